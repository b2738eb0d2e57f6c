from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.augment import AugmentConfig, make_augmenter
from ml.datasets import load


@pytest.fixture(scope="module")
def batch(fer_public: Path) -> np.ndarray:
    faces = load(fer_public).subset(64, seed=11).images
    return (faces[..., None] / 255.0).astype(np.float32)


def _run(cfg: AugmentConfig, seed: int, batch: np.ndarray) -> np.ndarray:
    return np.asarray(make_augmenter(cfg, seed)(batch))


def test_augmented_batches_are_random_crops_in_range_and_repeat_for_the_same_seed(batch: np.ndarray) -> None:
    first = _run(AugmentConfig(), 5, batch)

    assert first.shape == (64, 40, 40, 1) and first.min() >= 0.0 and first.max() <= 1.0
    assert np.array_equal(first, _run(AugmentConfig(), 5, batch))
    assert not np.allclose(first, _run(AugmentConfig(), 6, batch))


def test_camera_augmentation_degrades_faces_by_resolution_blur_or_noise(batch: np.ndarray) -> None:
    clean = _run(AugmentConfig(), 5, batch)
    camera = _run(AugmentConfig(camera_prob=1.0), 5, batch)

    changed = np.abs(camera - clean).reshape(64, -1).max(axis=1) > 1e-3
    assert changed.mean() > 0.95

    def sharpness(img: np.ndarray) -> float:
        return float(cv2.Laplacian(img[..., 0].astype(np.float64), cv2.CV_64F).var())

    softer = np.array([sharpness(c) < sharpness(o) for c, o in zip(camera, clean, strict=True)])
    # About two thirds lose detail (lower resolution or blur); the rest gain sensor noise.
    assert 0.4 < softer.mean() < 0.9
    # Off by default: a recipe that does not ask for it trains exactly as before.
    assert AugmentConfig().camera_prob == 0.0
