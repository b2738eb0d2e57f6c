"""Soft training targets from a teacher model (knowledge distillation at the label level).

An ensemble is more accurate than its members but costs one forward pass per member at every
served face. Distillation moves most of that gain into one network: the student trains on a
mix of the human label and the teacher's probabilities (Hinton et al., "Distilling the
Knowledge in a Neural Network", 2015). On FER2013 the teacher's probabilities also soften the
many ambiguous or wrong labels ("fear" against "surprise", "sad" against "neutral") with
per-face evidence, where label smoothing spreads the same mass uniformly.

The teacher's probabilities are computed once per run, on the un-augmented training faces
averaged over TTA views, then stored in the run directory (``teacher_targets.npz``): a
training step costs what it costs without a teacher. Steps:

1. Load the teacher (any ``.keras`` model with the student's input size, e.g. ``ml ensemble``'s).
2. Average its softened probabilities (logits / ``temperature``) over the ten-crop views.
3. Mix: ``target = (1 - weight) * one_hot(label) + weight * teacher``; each row sums to 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from inference.classes import NUM_CLASSES
from inference.preprocessing import PreprocessParams, tta_views
from inference.registry import sha256
from ml.datasets import LabelledImages
from ml.scoring import keras_logits_fn, probabilities

CACHE_FILE = "teacher_targets.npz"
CHUNK = 2048
"""Faces per chunk of TTA views (ten views of 2,048 faces are about 130 MB of float32)."""


class TeacherError(ValueError):
    """The teacher, or the recipe's use of it, cannot give the student's targets."""


def teacher_probabilities(
    teacher: Path, faces48: npt.NDArray[np.uint8], temperature: float, input_size: int, mode: str = "ten"
) -> npt.NDArray[np.float32]:
    """The teacher's probabilities at ``temperature``, averaged over the ``mode`` TTA views."""
    import keras

    model = keras.models.load_model(teacher, compile=False)
    shape = tuple(model.input_shape[1:])
    if shape != (input_size, input_size, 1) or model.output_shape[-1] != NUM_CLASSES:
        raise TeacherError(
            f"{teacher} maps {model.input_shape} to {model.output_shape}; the student needs "
            f"(None, {input_size}, {input_size}, 1) to {NUM_CLASSES} classes"
        )
    logits = keras_logits_fn(model)
    params = PreprocessParams(crop_size=input_size)
    out = np.zeros((len(faces48), NUM_CLASSES), np.float32)
    for start in range(0, len(faces48), CHUNK):
        views = tta_views(faces48[start : start + CHUNK], mode, params)
        out[start : start + CHUNK] = probabilities(np.stack([logits(v) for v in views]), temperature, None)
    return out


def soft_targets(
    labels: npt.NDArray[np.int64], teacher: npt.NDArray[np.float32], weight: float
) -> npt.NDArray[np.float32]:
    """``(1 - weight) * one_hot(labels) + weight * teacher``."""
    _check_weight(weight)
    if teacher.shape != (len(labels), NUM_CLASSES):
        raise TeacherError(f"teacher probabilities have shape {teacher.shape}, expected ({len(labels)}, 7)")
    one_hot = np.eye(NUM_CLASSES, dtype=np.float32)[labels]
    mixed: npt.NDArray[np.float32] = ((1.0 - weight) * one_hot + weight * teacher).astype(np.float32)
    return mixed


def _check_weight(weight: float) -> None:
    if not 0.0 <= weight <= 1.0:
        raise TeacherError(f"the teacher's weight must be in [0, 1], got {weight}")


def teacher_targets(
    run_dir: Path, teacher: Path, data: LabelledImages, weight: float, temperature: float, input_size: int
) -> npt.NDArray[np.float32]:
    """The soft training targets of a run with a teacher, every setting checked before the teacher runs."""
    _check_weight(weight)
    probs = cached_teacher_probabilities(run_dir, teacher, data, temperature, input_size)
    return soft_targets(data.labels, probs, weight)


def cached_teacher_probabilities(
    run_dir: Path, teacher: Path, data: LabelledImages, temperature: float, input_size: int
) -> npt.NDArray[np.float32]:
    """:func:`teacher_probabilities` for a run, computed once and reused when the run resumes.

    The cache is keyed on the teacher file's sha256, the temperature and the training labels,
    so another teacher or another training set recomputes instead of reusing stale targets.
    """
    if not teacher.is_file():
        raise TeacherError(f"{teacher}: no such teacher model file")
    if temperature <= 0:
        raise TeacherError(f"the teacher's temperature must be positive, got {temperature}")
    cache = run_dir / CACHE_FILE
    digest = sha256(teacher)
    if cache.exists():
        with np.load(cache) as saved:
            if (
                str(saved["teacher_sha256"]) == digest
                and float(saved["temperature"]) == temperature
                and np.array_equal(saved["labels"], data.labels)
            ):
                probs: npt.NDArray[np.float32] = saved["probabilities"]
                return probs
    probs = teacher_probabilities(teacher, data.images, temperature, input_size)
    tmp = run_dir / (CACHE_FILE + ".tmp.npz")
    np.savez(tmp, probabilities=probs, labels=data.labels, teacher_sha256=digest, temperature=temperature)
    tmp.replace(cache)
    return probs
