"""Turn a trained Keras model into a registered, calibrated, documented model version.

Steps:
1. Copy the Keras model into ``<model_dir>/<version>/model.keras`` and write the fast serving
   file next to it (``ml.convert.convert``).
2. On the validation split (PublicTest), compute per-view logits with the serving file for
   every TTA mode; fit, for the headline mode, the smallest class logit offsets that lift a
   class under the recall floor, then one temperature per mode (NLL of view-averaged
   probabilities), since serving may use a cheaper mode than the report.
3. Evaluate with the fitted calibration, peer included; write ``report.json``, the PNG
   plots, ``metadata.json`` (with checksums) and ``MODEL_CARD.md``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inference import registry
from inference.classes import EMOTIONS
from inference.preprocessing import DEFAULT_PARAMS, TTA_MODES
from inference.serving import ServingModel
from ml.convert import convert
from ml.datasets import LabelledImages
from ml.evaluate import evaluate, fit_class_bias, fit_temperature, write_plots
from ml.registry import write_info
from ml.scoring import Scorer, view_logits

DEFAULT_MIN_RECALL = 0.40


def scorer_for(info: registry.ModelInfo, threads: int = 0) -> Scorer:
    """A scorer that runs the version's serving file (the production path)."""
    runner = ServingModel.load(info, threads=threads)
    return Scorer(
        version=info.version,
        logits=runner.logits,
        temperature=info.temperature,
        class_bias=info.class_bias,
        tta_temperatures=info.tta_temperatures,
        params=info.preprocess,
        backend=str(info.serving.get("format", "?")),
    )


def export(
    keras_path: Path,
    version: str,
    val: LabelledImages,
    root: Path | None = None,
    tta_mode: str = "ten",
    min_recall: float = DEFAULT_MIN_RECALL,
    training: dict[str, Any] | None = None,
    with_peer: bool = True,
    quantize: bool = True,
    keep_keras: bool = True,
) -> tuple[registry.ModelInfo, dict[str, Any]]:
    """Register ``keras_path`` as ``version`` (not activated) and return it with its report.

    ``keep_keras=False`` ships the serving graph alone: for an ensemble of registered versions,
    whose ``.keras`` files are already in the registry and rebuild it with ``ml ensemble``.
    """
    root = root or registry.model_dir()
    target = root / version
    if target.exists():
        raise registry.RegistryError(f"model version {version!r} already exists in {root}")
    staging = root / f".{version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        _save_inference_model(keras_path, staging / "model.keras")
        serving = convert(staging / "model.keras", staging, quantize=quantize)
        info = registry.ModelInfo(
            version=version,
            path=staging,
            classes=EMOTIONS,
            preprocess=DEFAULT_PARAMS,
            temperature=1.0,
            class_bias=(0.0,) * len(EMOTIONS),
            keras_file="model.keras",
            serving=serving,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            extra={"training": training or {}, "tta_mode": tta_mode},
        )
        if serving["format"] == "onnx-int8":
            info = replace(info, serving=_int8_if_faithful(info, val))
        scorer = scorer_for(info)
        logits = {mode: view_logits(scorer, val.images, mode) for mode in TTA_MODES}
        bias = fit_class_bias(logits[tta_mode], val.labels, fit_temperature(logits[tta_mode], val.labels), min_recall)
        temperatures = {mode: fit_temperature(lg, val.labels, bias) for mode, lg in logits.items()}
        temperature = temperatures[tta_mode]
        scorer = replace(scorer, temperature=temperature, class_bias=bias, tta_temperatures=temperatures)
        report = evaluate(
            scorer,
            val,
            tta=tta_mode != "none",
            tta_mode=tta_mode,
            with_peer=with_peer,
            view_logits_by_mode=logits,
            with_robustness=True,
        )
        report["calibrated_on"] = val.source
        (staging / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        write_plots(report, staging)
        metrics = {k: report[k] for k in ("n", "accuracy", "macro_f1", "per_class_recall", "ece", "tta")}
        metrics["accuracy_without_tta"] = report["results"]["plain"]["accuracy"]
        metrics["accuracy_by_tta"] = {
            {"plain": "none", "tta": report["tta"]}.get(name, name): result["accuracy"]
            for name, result in report["results"].items()
        }
        if "peer" in report:
            metrics["peer_accuracy"] = report["peer"].get("accuracy")
        info = replace(info, temperature=temperature, class_bias=bias, metrics=metrics, tta_temperatures=temperatures)
        if not keep_keras:
            (staging / "model.keras").unlink()
            info = replace(info, keras_file="")
        (staging / "MODEL_CARD.md").write_text(model_card(info, report))
        info = write_info(info)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return registry.get(version, root), report


def _save_inference_model(source: Path, target: Path) -> None:
    """Save the model without its optimizer state (a third of the size with AdamW's slots)."""
    import keras

    keras.models.load_model(source, compile=False).save(target)


MAX_INT8_ACCURACY_LOSS = 0.005


def _int8_if_faithful(info: registry.ModelInfo, val: LabelledImages) -> dict[str, Any]:
    """Serve the int8 graph only if its accuracy is within half a point of float32; drop the other.

    The measurement is stored in the serving metadata either way.
    """
    int8 = dict(info.serving)
    fp32 = {k: v for k, v in int8.items() if k != "float_file"} | {"format": "onnx", "file": int8["float_file"]}
    predictions = {}
    for name, serving in (("float32", fp32), ("int8", int8)):
        logits = view_logits(scorer_for(replace(info, serving=serving)), val.images, "none")[0]
        predictions[name] = logits.argmax(axis=1)
    accuracy = {name: float((p == val.labels).mean()) for name, p in predictions.items()}
    parity = {
        "float32_accuracy": round(accuracy["float32"], 4),
        "int8_accuracy": round(accuracy["int8"], 4),
        "argmax_agreement": round(float((predictions["int8"] == predictions["float32"]).mean()), 4),
        "n": len(val),
        "data": val.source,
    }
    chosen, unused = (int8, fp32) if accuracy["float32"] - accuracy["int8"] <= MAX_INT8_ACCURACY_LOSS else (fp32, int8)
    # A version ships the graph it serves and model.keras, from which the other is rebuilt by
    # exporting again: the float graph of a 3M-parameter network alone is 12 MB.
    (info.path / unused["file"]).unlink()
    served = {k: v for k, v in chosen.items() if k != "float_file"}
    return served | {"int8_parity": parity}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _schedule(recipe: dict[str, Any]) -> str:
    epochs, cycle = recipe.get("epochs"), recipe.get("cycle_epochs")
    schedule = (
        f"one cosine decay over {epochs} epochs"
        if isinstance(epochs, int) and isinstance(cycle, int) and cycle >= epochs
        else f"cosine warm restarts every {cycle} epochs"
    )
    if recipe.get("init_from"):
        schedule += f", starting from the weights of `{recipe['init_from']}`"
    return schedule


def _extras(recipe: dict[str, Any]) -> str:
    """Recipe options that only some runs use: webcam degradation, distillation."""
    parts = []
    camera = float(recipe.get("augment", {}).get("camera_prob", 0.0))
    if camera > 0:
        parts.append(f"\n- Webcam degradation (lower resolution, blur or noise) on {camera:.0%} of training faces.")
    if recipe.get("teacher"):
        parts.append(
            f"\n- Distilled from `{recipe['teacher']}`: targets mix the label and the teacher's probabilities "
            f"(weight {recipe.get('teacher_weight')}, temperature {recipe.get('teacher_temperature')})."
        )
    return "".join(parts)


def _notes(training: dict[str, Any]) -> str:
    notes = str(training.get("notes", "")).strip()
    return f"\n- Exported weights: {notes}" if notes else ""


def _robustness_section(report: dict[str, Any]) -> str:
    robust = report.get("robustness")
    if not robust:
        return ""
    rows = "\n".join(
        f"| {name} | {_pct(row['accuracy'])} | {row['macro_f1']:.3f} | {_pct(row.get('peer_accuracy'))} |"
        for name, row in robust["conditions"].items()
    )
    return f"""Under camera-like conditions (each face changed one way, `ml/robustness.py`; flip TTA):

| condition | ours, accuracy | ours, macro-F1 | peer, accuracy |
|---|---|---|---|
{rows}

"""


def model_card(info: registry.ModelInfo, report: dict[str, Any]) -> str:
    """The model card: data, recipe, results, intended use, limits, licence."""
    training = info.extra.get("training", {})
    recipe = training.get("config", {})
    plain, headline = report["results"]["plain"], report["results"].get("tta", report["results"]["plain"])
    flip = report["results"].get("flip", headline)
    peer = report.get("peer", {})
    rows = "\n".join(
        f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |"
        for name, c in headline["per_class"].items()
    )
    speed = report.get("speed", {})
    return f"""# Model card: {info.version}

Facial-expression classifier of MoodSaaS: one grayscale face crop in, probabilities of the seven
FER2013 emotions out ({", ".join(info.classes)}).

## Data
- Trained on the FER2013 **Training** split (28,709 48x48 grayscale faces), selected and calibrated
  on **PublicTest** (3,589). PrivateTest was never used. {training.get("train_source", "")}
- FER2013: Goodfellow et al., "Challenges in Representation Learning" (ICML 2013 workshop),
  released through Kaggle **for research**. Its licence does not grant commercial rights: a
  company deploying this model commercially must clear that, or retrain on data it owns with
  `python -m ml train` (see docs/training.md).

## Recipe
- Architecture: VGG-style CNN, stages {recipe.get("arch", {}).get("widths")} with batch norm, dense
  {recipe.get("arch", {}).get("dense")}, dropout {recipe.get("arch", {}).get("dropout")};
  input {info.preprocess.crop_size}x{info.preprocess.crop_size} crops of the 48x48 face.
- Training: {recipe.get("optimizer", "?")} optimizer, peak learning rate {recipe.get("learning_rate")} with {_schedule(recipe)}, decoupled weight decay
  {recipe.get("weight_decay")}, label smoothing {recipe.get("label_smoothing")}, batch
  {recipe.get("batch_size")}, {training.get("epochs_done", "?")} epochs (best on PublicTest at epoch
  {training.get("best_epoch", "?")}).{_notes(training)}
- Augmentation: flips, rotations (±{recipe.get("augment", {}).get("rotation_degrees")}°), zoom, random
  crops, brightness/contrast, cutout.{_extras(recipe)}
- No class weighting; a class whose recall falls under 0.40
  (in practice the rare `disgust`) gets a post-hoc logit offset fitted on PublicTest (class_bias
  below; all zero when no class needed one).
- Calibration: temperature fitted on PublicTest for each test-time augmentation mode
  ({info.tta_temperatures}; the averaged views of a mode are less confident); class logit offsets
  {list(info.class_bias)}.
- Preprocessing (shared by training and serving, `inference/preprocessing.py`): detector box widened by
  {info.preprocess.face_margin}, squared, grayscale, resized to {info.preprocess.image_size}, centre
  crop {info.preprocess.crop_size}, scaled to [0, 1].

## Results on {Path(str(report["data"])).name} (n = {report["n"]})
| | ours, no TTA | ours, flip TTA (live frames) | ours, TTA ({report["tta"]}) | peer: {peer.get("name", "n/a")} |
|---|---|---|---|---|
| accuracy | {_pct(plain["accuracy"])} | {_pct(flip["accuracy"])} | {_pct(headline["accuracy"])} | {_pct(peer.get("accuracy"))} |
| macro-F1 | {plain["macro_f1"]:.3f} | {flip["macro_f1"]:.3f} | {headline["macro_f1"]:.3f} | {peer.get("macro_f1", float("nan")):.3f} |
| ECE (after temperature) | {plain["ece"]:.3f} | {flip["ece"]:.3f} | {headline["ece"]:.3f} | {peer.get("ece", float("nan")):.3f} |
| ECE before temperature | {plain["ece_before_temperature"]:.3f} | {flip["ece_before_temperature"]:.3f} | {headline["ece_before_temperature"]:.3f} | |

Per class (TTA):

| class | precision | recall | F1 | support |
|---|---|---|---|---|
{rows}

{_robustness_section(report)}
Classifier speed ({info.serving.get("format")}): single face p50 {speed.get("single_face_ms_p50")} ms,
batched {speed.get("batched_faces_per_s")} faces/s on the 2-core build machine.
PublicTest was also used for model selection and calibration, so these numbers are optimistic;
the independent check is PrivateTest, kept outside this repository.

## Which channel it serves
Two registry pointers choose the versions (`python -m ml activate NAME`, `--live` for the second;
`python -m ml models` shows them); each channel has its own detector and test-time augmentation
(`evaluations/analysis.py`):
- **live camera frames** (`LIVE`, or the active version when it is unset): short-range face
  detector (the full range when it finds nothing, then a second look on the frame shrunk into a
  border, for close-ups), **flip** TTA: the "flip TTA" column above;
- **uploaded images, videos and the one-shot analyse endpoint** (`ACTIVE`): full-range
  detector, **ten-crop** TTA: the "TTA (ten)" column above.

## Intended use
Aggregate, per-session estimates of customer affect during service interactions, shown to the
company with their confidence and evidence. Not for decisions about an individual customer, not
for identification, not for inferring emotions of employees (prohibited in workplaces under
the EU AI Act art. 5(1)(f)), and only after a visible notice and consent (see the product's
privacy settings).

## Known limits and biases
- FER2013 faces are web images: mostly frontal, posed or exaggerated expressions, skewed
  towards lighter skin tones and adults; accuracy on real webcam faces, children, older people,
  darker skin tones, occlusions (masks, glasses) and non-Western expression norms is lower and
  unmeasured here.
- Labels are noisy (human agreement on FER2013 is about 65%); `disgust` has 436 training images
  and the weakest precision; `fear` and `sad` are often confused with each other and with
  `neutral`.
- Expressions are not emotions: a smile is not satisfaction. Grades must be read as evidence,
  with the per-frame probabilities behind them.
"""
