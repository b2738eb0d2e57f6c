"""Training-time augmentation, applied per batch inside the tf.data pipeline.

Geometric: small rotations and zoom, horizontal flips, random 40x40 crops of the 48x48 face
(which are the shifts). Photometric: brightness and contrast. Occlusion: one random erased
rectangle per image (cutout). Validation never sees any of this: it uses the centre crop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ml.preprocessing import CROP_SIZE


@dataclass(frozen=True)
class AugmentConfig:
    rotation_degrees: float = 12.0
    zoom: float = 0.12
    brightness: float = 0.15
    contrast: float = 0.3
    cutout_prob: float = 0.5
    cutout_max: int = 16
    crop_size: int = CROP_SIZE

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_augmenter(cfg: AugmentConfig, seed: int) -> Any:
    """Return ``augment(batch)`` for float32 batches (B, 48, 48, 1) in [0, 1]."""
    import keras
    import tensorflow as tf

    geometric = keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed, dtype="float32"),
            keras.layers.RandomRotation(
                cfg.rotation_degrees / 360.0, fill_mode="reflect", seed=seed + 1, dtype="float32"
            ),
            keras.layers.RandomZoom((-cfg.zoom, cfg.zoom), fill_mode="reflect", seed=seed + 2, dtype="float32"),
            keras.layers.RandomCrop(cfg.crop_size, cfg.crop_size, seed=seed + 3, dtype="float32"),
        ],
        name="augment",
    )
    # Augmentation runs in the input pipeline in float32, whatever the model's precision policy.
    gen = tf.random.Generator.from_seed(seed + 4)
    size = cfg.crop_size

    def augment(batch: Any) -> Any:
        x = geometric(batch, training=True)
        b = tf.shape(x)[0]
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        contrast = gen.uniform([b, 1, 1, 1], 1.0 - cfg.contrast, 1.0 + cfg.contrast)
        bright = gen.uniform([b, 1, 1, 1], -cfg.brightness, cfg.brightness)
        x = (x - mean) * contrast + mean + bright
        # Cutout: one rectangle per image, zeroed with probability cutout_prob.
        cy = gen.uniform([b, 1, 1], 0, size)
        cx = gen.uniform([b, 1, 1], 0, size)
        half = gen.uniform([b, 1, 1], 4, cfg.cutout_max) / 2.0
        grid = tf.cast(tf.range(size), tf.float32)
        inside_y = tf.abs(grid[None, :, None] - cy) < half
        inside_x = tf.abs(grid[None, None, :] - cx) < half
        apply = gen.uniform([b, 1, 1]) < cfg.cutout_prob
        mask = tf.logical_and(tf.logical_and(inside_y, inside_x), apply)
        x = tf.where(mask[..., None], tf.zeros_like(x), x)
        return tf.clip_by_value(x, 0.0, 1.0)

    return augment
