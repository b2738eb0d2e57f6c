"""Ensembles: several trained networks served as one model that averages their logits.

Networks trained on separate learning-rate cycles make partly different mistakes; the mean of
their logits is more accurate than either (Huang et al., "Snapshot Ensembles", 2017). The
ensemble is saved as one Keras model with the members' input and output, so ``ml export``,
calibration, ONNX conversion and serving treat it like any other model. Its price is one
forward pass per member.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class EnsembleMismatch(ValueError):
    """The members cannot be combined."""


def combine(paths: Sequence[Path], out: Path) -> Path:
    """Write to ``out`` a model whose logits are the mean of the logits of the ``paths`` models."""
    import keras

    if len(paths) < 2:
        raise EnsembleMismatch("give at least two models to combine")
    members = [keras.models.load_model(path, compile=False) for path in paths]
    shape = members[0].input_shape
    for path, member in zip(paths, members, strict=True):
        if member.input_shape != shape or member.output_shape != members[0].output_shape:
            raise EnsembleMismatch(
                f"{path} maps {member.input_shape} to {member.output_shape}, "
                f"but {paths[0]} maps {shape} to {members[0].output_shape}"
            )
    inputs = keras.Input(shape[1:], name="face")
    logits = []
    for i, member in enumerate(members):
        member.name = f"member{i}"  # layer names must be unique inside the ensemble
        logits.append(member(inputs))
    mean = keras.layers.Average(name="logits", dtype="float32")(logits)
    out.parent.mkdir(parents=True, exist_ok=True)
    keras.Model(inputs, mean, name="moodnet_ensemble").save(out)
    return out
