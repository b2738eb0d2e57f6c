"""The one implementation of face preprocessing, shared by training and serving.

Training images (FER2013) are already 48x48 grayscale face crops; serving starts from a
detector box in a full frame. Both end in :func:`to_model_input`, so the two paths cannot
drift apart: crop -> grayscale -> resize to ``IMAGE_SIZE`` -> centre crop ``CROP_SIZE`` ->
scale to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

IMAGE_SIZE = 48
"""Side of the stored face crop (FER2013 native size)."""
CROP_SIZE = 40
"""Side of the network input: random crops in training, centre crop (or ten crops) in serving."""
FACE_MARGIN = 1.16
"""Detector boxes are widened by this factor to match the framing of FER2013 crops.

Measured: BlazeFace (full range) on 800 PublicTest faces, upscaled 3x and edge-padded, found
550; the FER2013 crop side was a median 1.16x the detector box side (p10 0.98, p90 1.50), with
the box centre 2.8% of the crop side below the crop centre (ignored: about 1 pixel at 48x48).
"""


@dataclass(frozen=True)
class PreprocessParams:
    image_size: int = IMAGE_SIZE
    crop_size: int = CROP_SIZE
    face_margin: float = FACE_MARGIN
    scale: float = 1.0 / 255.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "image_size": self.image_size,
            "crop_size": self.crop_size,
            "face_margin": self.face_margin,
            "scale": self.scale,
        }


DEFAULT_PARAMS = PreprocessParams()


def to_gray(image: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    """Return an 8-bit single-channel image from gray, BGR, BGRA or 16-bit input."""
    img = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY)
    elif img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D or 3-D image, got shape {image.shape}")
    return np.ascontiguousarray(img)


def face_square(
    box: tuple[int, int, int, int], frame_w: int, frame_h: int, margin: float = FACE_MARGIN
) -> tuple[int, int, int, int]:
    """Return the square, margin-widened crop (x, y, side, side) around a detector box.

    The square may extend past the frame; :func:`crop_face` pads it with edge pixels.
    """
    x, y, w, h = box
    side = max(1, round(max(w, h) * margin))
    cx, cy = x + w / 2.0, y + h / 2.0
    return round(cx - side / 2.0), round(cy - side / 2.0), side, side


def crop_face(
    gray: npt.NDArray[np.uint8],
    box: tuple[int, int, int, int],
    params: PreprocessParams = DEFAULT_PARAMS,
) -> npt.NDArray[np.uint8]:
    """Cut the face square out of a grayscale frame and resize it to ``image_size``."""
    h, w = gray.shape[:2]
    x, y, side, _ = face_square(box, w, h, params.face_margin)
    pad = max(0, -x, -y, x + side - w, y + side - h)
    if pad:
        gray = np.asarray(cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE), dtype=np.uint8)
        x, y = x + pad, y + pad
    crop = gray[y : y + side, x : x + side]
    interp = cv2.INTER_AREA if side > params.image_size else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(crop, (params.image_size, params.image_size), interpolation=interp), dtype=np.uint8)


def center_crop(images: npt.NDArray[np.generic], size: int = CROP_SIZE) -> npt.NDArray[np.generic]:
    """Centre-crop a batch (N, H, W[, C]) to ``size`` x ``size``."""
    h, w = images.shape[1], images.shape[2]
    top, left = (h - size) // 2, (w - size) // 2
    return images[:, top : top + size, left : left + size]


def ten_crops(images: npt.NDArray[np.generic], size: int = CROP_SIZE) -> list[npt.NDArray[np.generic]]:
    """Return the ten standard test-time crops: four corners and centre, each also mirrored."""
    h, w = images.shape[1], images.shape[2]
    offsets = [(0, 0), (0, w - size), (h - size, 0), (h - size, w - size), ((h - size) // 2, (w - size) // 2)]
    crops = [images[:, top : top + size, left : left + size] for top, left in offsets]
    return crops + [c[:, :, ::-1] for c in crops]


def normalise(images: npt.NDArray[np.generic], params: PreprocessParams = DEFAULT_PARAMS) -> npt.NDArray[np.float32]:
    """Scale uint8 pixels to float32 in [0, 1] with a trailing channel axis."""
    arr = images.astype(np.float32) * np.float32(params.scale)
    if arr.ndim == 3:
        arr = arr[..., None]
    return arr


def to_model_input(
    faces48: npt.NDArray[np.uint8], params: PreprocessParams = DEFAULT_PARAMS
) -> npt.NDArray[np.float32]:
    """Turn 48x48 uint8 face crops (N, 48, 48) into the network input (N, crop, crop, 1)."""
    return normalise(center_crop(faces48, params.crop_size), params)


TTA_MODES = ("none", "flip", "ten")
"""Test-time augmentation: centre crop only; centre crop and its mirror; the ten standard crops."""


def tta_views(
    faces48: npt.NDArray[np.uint8], mode: str = "none", params: PreprocessParams = DEFAULT_PARAMS
) -> npt.NDArray[np.float32]:
    """Network inputs stacked as (V, N, crop, crop, 1); average the V predictions per face.

    Average the *probabilities* of the views (after calibration), not the logits.
    """
    if mode == "none":
        return to_model_input(faces48, params)[None]
    if mode == "flip":
        centre = center_crop(faces48, params.crop_size)
        return np.stack([normalise(centre, params), normalise(centre[:, :, ::-1], params)])
    if mode == "ten":
        return np.stack([normalise(c, params) for c in ten_crops(faces48, params.crop_size)])
    raise ValueError(f"unknown TTA mode {mode!r}; expected one of {', '.join(TTA_MODES)}")
