from __future__ import annotations

import numpy as np
import pytest

from inference.preprocessing import crop_face, face_square, to_gray, to_model_input, tta_views


def test_to_gray_accepts_gray_bgr_bgra_and_16_bit_images() -> None:
    bgr = np.zeros((10, 12, 3), np.uint8)
    bgr[..., 2] = 255  # pure red
    assert to_gray(bgr).shape == (10, 12)
    assert to_gray(np.dstack([bgr, np.full((10, 12), 255, np.uint8)])).shape == (10, 12)
    assert to_gray(np.full((4, 4), 65535, np.uint16)).max() == 255
    assert to_gray(np.zeros((4, 4, 1), np.uint8)).shape == (4, 4)
    with pytest.raises(ValueError):
        to_gray(np.zeros((2, 2, 2, 2), np.uint8))


def test_face_crops_are_widened_squares_padded_at_the_frame_edge() -> None:
    assert face_square((10, 20, 40, 60), 200, 200, margin=1.0) == (0, 20, 60, 60)
    frame = np.arange(100 * 100, dtype=np.uint32).reshape(100, 100).astype(np.uint8)
    crop = crop_face(frame, (-10, -10, 40, 40))
    assert crop.shape == (48, 48)


def test_model_input_is_the_centre_crop_scaled_to_unit_range() -> None:
    faces = np.full((3, 48, 48), 255, np.uint8)
    x = to_model_input(faces)
    assert x.shape == (3, 40, 40, 1) and x.dtype == np.float32
    assert float(x.max()) == pytest.approx(1.0)


def test_tta_views_give_one_two_or_ten_views_with_mirrors() -> None:
    faces = np.random.default_rng(0).integers(0, 256, (2, 48, 48), dtype=np.uint8)
    assert tta_views(faces, "none").shape == (1, 2, 40, 40, 1)
    flip = tta_views(faces, "flip")
    assert flip.shape == (2, 2, 40, 40, 1)
    assert np.array_equal(flip[1], flip[0][:, :, ::-1])
    assert tta_views(faces, "ten").shape == (10, 2, 40, 40, 1)
    with pytest.raises(ValueError, match="unknown TTA mode"):
        tta_views(faces, "twenty")
