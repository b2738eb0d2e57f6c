"""Pure classification metrics on numpy arrays: no model, no I/O."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from inference.classes import EMOTIONS, NUM_CLASSES

FloatArray = npt.NDArray[np.floating[Any]]
IntArray = npt.NDArray[np.integer[Any]]


def confusion_matrix(labels: IntArray, predicted: IntArray, k: int = NUM_CLASSES) -> npt.NDArray[np.int64]:
    """Rows are true classes, columns predicted classes."""
    return np.bincount(labels * k + predicted, minlength=k * k).reshape(k, k).astype(np.int64)


def per_class(cm: npt.NDArray[np.int64]) -> dict[str, dict[str, float]]:
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {
        name: {
            "precision": round(float(precision[i]), 4),
            "recall": round(float(recall[i]), 4),
            "f1": round(float(f1[i]), 4),
            "support": int(support[i]),
        }
        for i, name in enumerate(EMOTIONS)
    }


def expected_calibration_error(
    probs: FloatArray, labels: IntArray, bins: int = 15
) -> tuple[float, list[dict[str, float]]]:
    """Return the ECE (equal-width confidence bins) and the per-bin reliability table."""
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece, table = 0.0, []
    n = max(1, len(labels))
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        if not count:
            continue
        acc, conf = float(correct[mask].mean()), float(confidence[mask].mean())
        ece += count / n * abs(acc - conf)
        table.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": count,
                "accuracy": round(acc, 4),
                "confidence": round(conf, 4),
            }
        )
    return float(ece), table


def nll(probs: FloatArray, labels: IntArray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0))))


def summary(probs: FloatArray, labels: IntArray) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall, confusion matrix, ECE and NLL."""
    predicted = probs.argmax(axis=1)
    cm = confusion_matrix(labels, predicted)
    classes = per_class(cm)
    ece, reliability = expected_calibration_error(probs, labels)
    return {
        "n": len(labels),
        "accuracy": round(float((predicted == labels).mean()), 4) if len(labels) else 0.0,
        "macro_f1": round(float(np.mean([c["f1"] for c in classes.values()])), 4),
        "per_class_recall": {k: v["recall"] for k, v in classes.items()},
        "per_class_precision": {k: v["precision"] for k, v in classes.items()},
        "per_class": classes,
        "confusion_matrix": cm.tolist(),
        "ece": round(ece, 4),
        "nll": round(nll(probs, labels), 4),
        "reliability": reliability,
    }
