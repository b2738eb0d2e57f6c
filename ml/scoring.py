"""A model under evaluation and the arithmetic every report shares: logits per TTA view, then
calibrated probabilities averaged over the views.

Used by the evaluation report, the robustness report, the export's calibration and
distillation's teacher; TensorFlow is imported only when a Keras model is wrapped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.classes import EMOTIONS
from inference.preprocessing import DEFAULT_PARAMS, PreprocessParams, tta_views
from inference.registry import calibrated_softmax

LogitsFn = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]


@dataclass
class Scorer:
    """A model under evaluation: how to get logits, and how to calibrate them."""

    version: str
    logits: LogitsFn
    temperature: float = 1.0
    class_bias: tuple[float, ...] | None = None
    params: PreprocessParams = DEFAULT_PARAMS
    backend: str = "keras"
    tta_temperatures: dict[str, float] = field(default_factory=dict)

    def temperature_for(self, mode: str) -> float:
        return float(self.tta_temperatures.get(mode, self.temperature))


def keras_logits_fn(model: Any, batch_size: int = 512) -> LogitsFn:
    """Wrap a Keras model; compiled once, called on numpy batches (no ``predict`` overhead)."""
    import tensorflow as tf

    call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def run(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out = [np.asarray(call(tf.constant(x[i : i + batch_size]))) for i in range(0, len(x), batch_size)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, len(EMOTIONS)), np.float32)

    return run


def view_logits(scorer: Scorer, faces48: npt.NDArray[np.uint8], mode: str) -> npt.NDArray[np.float32]:
    """Logits for every TTA view: shape (V, N, 7)."""
    views = tta_views(faces48, mode, scorer.params)
    return np.stack([scorer.logits(v) for v in views])


def probabilities(
    logits: npt.NDArray[np.float32], temperature: float, class_bias: tuple[float, ...] | None
) -> npt.NDArray[np.float32]:
    """Average calibrated probabilities over the view axis of (V, N, 7) logits."""
    mean: npt.NDArray[np.float32] = calibrated_softmax(logits, temperature, class_bias).mean(axis=0)
    return mean
