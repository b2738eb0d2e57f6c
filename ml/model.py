"""The emotion CNN: a compact VGG-style network with batch norm, sized for CPU training."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from inference.classes import NUM_CLASSES
from inference.preprocessing import CROP_SIZE


@dataclass(frozen=True)
class ArchConfig:
    widths: tuple[int, ...] = (32, 64, 128, 256)
    convs_per_stage: int = 2
    dense: int = 256
    dropout: float = 0.4
    input_size: int = CROP_SIZE

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_model(arch: ArchConfig = ArchConfig()) -> Any:
    """Return an uncompiled Keras model mapping (crop, crop, 1) faces in [0, 1] to 7 logits.

    The output layer is float32 even under a mixed-precision policy, so logits (and the
    temperature applied to them later) keep full precision.
    """
    import keras
    from keras import layers

    inputs = keras.Input((arch.input_size, arch.input_size, 1), name="face")
    x = inputs
    for stage, width in enumerate(arch.widths):
        for conv in range(arch.convs_per_stage):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"s{stage}_conv{conv}")(x)
            x = layers.BatchNormalization(name=f"s{stage}_bn{conv}")(x)
            x = layers.ReLU(name=f"s{stage}_relu{conv}")(x)
        x = layers.MaxPooling2D(2, name=f"s{stage}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    # No dropout right before a batch-normalised layer: dropout inflates the variance BN sees
    # in training, so its moving statistics are wrong at inference (the first recipe had one
    # here and predicted a single class in inference mode while learning in training mode).
    x = layers.Dense(arch.dense, use_bias=False, name="fc")(x)
    x = layers.BatchNormalization(name="fc_bn")(x)
    x = layers.ReLU(name="fc_relu")(x)
    x = layers.Dropout(arch.dropout, name="drop_fc")(x)
    logits = layers.Dense(NUM_CLASSES, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name="moodnet")
