"""Evaluation report for any model on any labelled set, with the peer measured in the same run.

Steps:
1. Compute per-view logits of the model (centre crop, and every TTA view).
2. Turn them into calibrated probabilities with the model's own temperature and class bias,
   averaging probabilities over views when TTA is on.
3. Summarise (accuracy, macro-F1, per-class precision/recall, confusion matrix, ECE, NLL),
   without TTA (``plain``), with the mirror image (``flip``, what live frames use) and with the
   chosen TTA (``tta``), before and after temperature scaling.
4. Time classification (single face and batched).
5. Evaluate the peer (`fer`'s model) on the same images.
6. Optionally, accuracy of both under camera-like conditions (``ml/robustness.py``).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.classes import EMOTIONS
from inference.preprocessing import PreprocessParams
from ml import metrics
from ml.datasets import LabelledImages
from ml.peer import PEER_INPUT, PEER_NAME, PeerUnavailable, load_peer_model, peer_inputs
from ml.robustness import robustness
from ml.scoring import LogitsFn, Scorer, keras_logits_fn, probabilities, view_logits


def fit_temperature(
    logits: npt.NDArray[np.float32], labels: npt.NDArray[np.int64], class_bias: tuple[float, ...] | None = None
) -> float:
    """Temperature minimising the NLL of view-averaged probabilities (golden-section on log T)."""
    from scipy.optimize import minimize_scalar

    def loss(log_t: float) -> float:
        return metrics.nll(probabilities(logits, float(np.exp(log_t)), class_bias), labels)

    result = minimize_scalar(loss, bounds=(np.log(0.25), np.log(8.0)), method="bounded")
    return round(float(np.exp(result.x)), 4)


def fit_class_bias(
    logits: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    temperature: float,
    min_recall: float,
    max_accuracy_drop: float = 0.01,
) -> tuple[float, ...]:
    """Smallest per-class logit offsets lifting weak classes to ``min_recall``, if affordable.

    Rare classes (``disgust``) are under-predicted by a model trained on the natural class
    balance; a post-hoc offset chosen on the validation split costs far less overall accuracy
    than class-weighted training. Steps:
    1. Visit the classes below the floor, weakest first.
    2. Raise the class's offset in steps of 0.1 (up to 2.0) until its recall reaches the floor.
    3. Keep the offset only if the floor was reached and overall accuracy fell by at most
       ``max_accuracy_drop`` against no offsets at all; otherwise put it back to zero.
    """

    def summary(bias: npt.NDArray[np.float64]) -> dict[str, Any]:
        return metrics.summary(probabilities(logits, temperature, tuple(bias)), labels)

    bias = np.zeros(len(EMOTIONS))
    base = summary(bias)
    weak = sorted(
        (recall, k)
        for k, recall in enumerate(base["per_class_recall"].values())
        if recall < min_recall and (labels == k).any()
    )
    for _, k in weak:
        reached = False
        while bias[k] < 2.0 and not reached:
            bias[k] = round(bias[k] + 0.1, 2)
            current = summary(bias)
            reached = current["per_class_recall"][EMOTIONS[k]] >= min_recall
        if not reached or base["accuracy"] - current["accuracy"] > max_accuracy_drop:
            bias[k] = 0.0
    return tuple(float(b) for b in bias)


def timing(logits: LogitsFn, params: PreprocessParams, repeats: int = 50, batch: int = 256) -> dict[str, float]:
    """Median single-face latency and batched throughput of the classifier alone."""
    rng = np.random.default_rng(0)
    one = rng.random((1, params.crop_size, params.crop_size, 1), dtype=np.float32)
    many = rng.random((batch, params.crop_size, params.crop_size, 1), dtype=np.float32)
    logits(one)
    logits(many)
    singles = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        logits(one)
        singles.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    rounds = 5
    for _ in range(rounds):
        logits(many)
    per_batch = (time.perf_counter() - t0) / rounds
    return {
        "single_face_ms_p50": round(statistics.median(singles) * 1000, 3),
        "batched_faces_per_s": round(batch / per_batch, 1),
        "batch_size": batch,
    }


def evaluate(
    scorer: Scorer,
    data: LabelledImages,
    tta: bool = False,
    tta_mode: str = "ten",
    with_peer: bool = True,
    with_timing: bool = True,
    view_logits_by_mode: dict[str, npt.NDArray[np.float32]] | None = None,
    with_robustness: bool = False,
) -> dict[str, Any]:
    """Build the full report as a JSON-ready dict (see the module docstring for the steps).

    ``view_logits_by_mode``: logits already computed on ``data`` (by ``view_logits``) per TTA
    mode, so a caller that has them (the export) does not pay for the views twice.
    """
    known = view_logits_by_mode or {}

    def logits_of(mode: str) -> npt.NDArray[np.float32]:
        return known[mode] if mode in known else view_logits(scorer, data.images, mode)

    report: dict[str, Any] = {
        "model_version": scorer.version,
        "backend": scorer.backend,
        "data": data.source,
        "tta": tta_mode if tta else "none",
    }
    variants = {"plain": ("none", logits_of("none"))}
    if tta and tta_mode != "flip":
        # Production averages the mirror image for live frames: report that mode too.
        variants["flip"] = ("flip", logits_of("flip"))
    if tta:
        variants["tta"] = (tta_mode, logits_of(tta_mode))
    results = {}
    for name, (mode, lg) in variants.items():
        temperature = scorer.temperature_for(mode)
        calibrated = metrics.summary(probabilities(lg, temperature, scorer.class_bias), data.labels)
        uncalibrated = metrics.summary(probabilities(lg, 1.0, None), data.labels)
        calibrated["temperature"] = temperature
        calibrated["ece_before_temperature"] = uncalibrated["ece"]
        calibrated["accuracy_without_class_bias"] = metrics.summary(probabilities(lg, temperature, None), data.labels)[
            "accuracy"
        ]
        results[name] = calibrated
    headline = results["tta" if tta else "plain"]
    report.update({k: headline[k] for k in ("n", "accuracy", "macro_f1", "per_class_recall", "ece")})
    report["temperature"] = headline["temperature"]
    report["class_bias"] = list(scorer.class_bias) if scorer.class_bias else None
    report["results"] = results
    if with_timing:
        report["speed"] = timing(scorer.logits, scorer.params)
    if with_peer:
        report["peer"] = evaluate_peer(data, with_timing)
    if with_robustness:
        # Camera conditions concern live frames, which average the mirror image.
        report["robustness"] = robustness(scorer, data, "flip", with_peer)
    return report


def evaluate_peer(data: LabelledImages, with_timing: bool = True) -> dict[str, Any]:
    try:
        model = load_peer_model()
    except PeerUnavailable as exc:
        return {"name": PEER_NAME, "error": str(exc)}
    run = keras_logits_fn(model)
    probs = run(peer_inputs(data.images))  # the peer's head already ends in softmax
    summary = metrics.summary(probs, data.labels)
    out: dict[str, Any] = {"name": PEER_NAME}
    out.update({k: summary[k] for k in ("n", "accuracy", "macro_f1", "per_class_recall", "ece", "confusion_matrix")})
    if with_timing:
        out["speed"] = timing(run, PreprocessParams(crop_size=PEER_INPUT))
    return out


def write_plots(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write the confusion matrix and reliability diagram PNGs; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    headline = report["results"]["tta" if report["tta"] != "none" else "plain"]
    cm = np.array(headline["confusion_matrix"], dtype=np.float64)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(EMOTIONS)), EMOTIONS, rotation=45, ha="right")
    ax.set_yticks(range(len(EMOTIONS)), EMOTIONS)
    for i in range(len(EMOTIONS)):
        for j in range(len(EMOTIONS)):
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{report['model_version']} on {Path(str(report['data'])).name}: acc {headline['accuracy']:.3f}")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    cm_path = out_dir / "confusion_matrix.png"
    fig.savefig(cm_path, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 5))
    rows = headline["reliability"]
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.bar(
        [(r["low"] + r["high"]) / 2 for r in rows],
        [r["accuracy"] for r in rows],
        width=1 / 15,
        alpha=0.6,
        edgecolor="k",
        label="accuracy per confidence bin",
    )
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability (ECE {headline['ece']:.3f}, T={report['temperature']})")
    ax.legend(loc="upper left")
    fig.tight_layout()
    rel_path = out_dir / "reliability.png"
    fig.savefig(rel_path, dpi=110)
    plt.close(fig)
    return [cm_path, rel_path]
