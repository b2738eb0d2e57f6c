"""Weight averaging of the last checkpoints of a run (stochastic weight averaging, SWA).

The checkpoints of the final, low-learning-rate epochs of a run lie around one basin of the loss;
their average sits nearer its centre and often generalises a little better than any one of them
(Izmailov et al., "Averaging Weights Leads to Wider Optima", 2018). Steps:

1. Load the checkpoints and check that they are the same network.
2. Average every weight element-wise.
3. Re-estimate the batch-norm statistics of the averaged network: the average of several
   networks' statistics is not the statistics of the averaged network. One pass over the
   training faces (centre crops, no augmentation) in training mode, with a cumulative average.
4. Save the averaged model; ``python -m ml export --keras FILE`` then measures it like any
   other model, on PublicTest, next to the checkpoints it came from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inference.preprocessing import to_model_input
from ml.datasets import LabelledImages


class CheckpointMismatch(ValueError):
    """The checkpoints are not the same network."""


def average_checkpoints(
    paths: Sequence[Path],
    bn_data: LabelledImages,
    out: Path,
    batch_size: int = 256,
    log: Callable[[str], None] = print,
) -> Path:
    """Average ``paths`` into ``out`` with batch-norm statistics re-estimated on ``bn_data``."""
    import keras

    if len(paths) < 2:
        raise CheckpointMismatch("give at least two checkpoints to average")
    models = [keras.models.load_model(path, compile=False) for path in paths]
    shapes = [w.shape for w in models[0].get_weights()]
    for path, model in zip(paths[1:], models[1:], strict=True):
        if [w.shape for w in model.get_weights()] != shapes:
            raise CheckpointMismatch(f"{path} is another network than {paths[0]}")
    averaged = models[0]
    averaged.set_weights([np.mean([m.get_weights()[i] for m in models], axis=0) for i in range(len(shapes))])
    log(f"averaged {len(paths)} checkpoints; re-estimating batch-norm statistics on {len(bn_data)} faces")
    reestimate_batchnorm(averaged, to_model_input(bn_data.images), batch_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    averaged.save(out)
    return out


def reestimate_batchnorm(model: Any, inputs: np.ndarray, batch_size: int = 256) -> None:
    """Replace every batch-norm layer's moving statistics by their mean over ``inputs``.

    Keras updates ``moving = momentum * moving + (1 - momentum) * batch``; with momentum
    ``k / (k + 1)`` at the k-th batch (counting from 0) that is the running mean of the batch
    statistics. Only the statistics change: no gradient step is taken.
    """
    import keras

    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        return
    momenta = [layer.momentum for layer in layers]
    try:
        for k, start in enumerate(range(0, len(inputs) - batch_size + 1, batch_size)):
            for layer in layers:
                layer.momentum = k / (k + 1)
            model(inputs[start : start + batch_size], training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
