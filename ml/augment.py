"""Training-time augmentation, applied per batch inside the tf.data pipeline.

Geometric: small rotations and zoom, horizontal flips, random 40x40 crops of the 48x48 face
(which are the shifts). Photometric: brightness and contrast. Occlusion: one random erased
rectangle per image (cutout). Camera (``camera_prob``, off unless asked for): each image is,
with that probability, degraded the way a webcam degrades a face, by one of: a lower resolution
(downscaled to 14-32 pixels and back), a Gaussian blur (sigma 0.6-1.6 pixels) or sensor noise
(sigma up to 0.05). ``ml/robustness.py`` measured the shipped model losing 17-21 points on
blurred and 20-pixel faces, which FER2013's sharp, tightly framed crops never show it.
Validation never sees any of this: it uses the centre crop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from inference.preprocessing import CROP_SIZE


@dataclass(frozen=True)
class AugmentConfig:
    rotation_degrees: float = 12.0
    zoom: float = 0.12
    brightness: float = 0.15
    contrast: float = 0.3
    cutout_prob: float = 0.5
    cutout_max: int = 16
    crop_size: int = CROP_SIZE
    camera_prob: float = 0.0

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
        if cfg.camera_prob > 0:
            x = camera(x, b)
        return tf.clip_by_value(x, 0.0, 1.0)

    def camera(x: Any, b: Any) -> Any:
        # One kind of degradation per image; the strength is drawn once per batch.
        kind = gen.uniform([b, 1, 1, 1], 0, 3)
        apply = gen.uniform([b, 1, 1, 1]) < cfg.camera_prob
        small = tf.cast(gen.uniform([], 14, 33), tf.int32)
        low_res = tf.image.resize(tf.image.resize(x, [small, small], antialias=True), [size, size])
        sigma = gen.uniform([], 0.6, 1.6)
        taps = tf.range(-3.0, 4.0)
        kernel_1d = tf.exp(-(taps**2) / (2.0 * sigma**2))
        kernel_1d = kernel_1d / tf.reduce_sum(kernel_1d)
        padded = tf.pad(x, [[0, 0], [3, 3], [3, 3], [0, 0]], mode="REFLECT")
        blurred = tf.nn.conv2d(padded, tf.reshape(kernel_1d, [7, 1, 1, 1]), 1, "VALID")
        blurred = tf.nn.conv2d(blurred, tf.reshape(kernel_1d, [1, 7, 1, 1]), 1, "VALID")
        noisy = x + gen.normal(tf.shape(x)) * gen.uniform([b, 1, 1, 1], 0.0, 0.05)
        degraded = tf.where(kind < 1, low_res, tf.where(kind < 2, blurred, noisy))
        return tf.where(apply, degraded, x)

    return augment
