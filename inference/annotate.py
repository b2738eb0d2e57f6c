"""Draw detected faces and their dominant emotion on an image (the product's classic demo)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from inference.api import ImageResult
from inference.errors import InferenceError

# BGR colours per FER2013 emotion, chosen to stay distinct on photos.
COLOURS: dict[str, tuple[int, int, int]] = {
    "angry": (40, 40, 220),
    "disgust": (40, 140, 40),
    "fear": (160, 60, 160),
    "happy": (40, 200, 250),
    "sad": (200, 120, 40),
    "surprise": (240, 200, 60),
    "neutral": (200, 200, 200),
}


def annotate(bgr: npt.NDArray[np.uint8], result: ImageResult, numbered: bool = False) -> npt.NDArray[np.uint8]:
    """Return a copy of ``bgr`` with a box per face and a label "emotion 87%" plus the runner-up.

    ``numbered`` starts each label with the face's number in ``result.faces`` (1 = first), so a
    table of the faces can refer to them.
    """
    out = bgr.copy()
    scale = max(out.shape[:2]) / 640.0
    thickness = max(1, round(2 * scale))
    font_scale = 0.5 * max(scale, 0.6)
    for number, face in enumerate(result.faces, start=1):
        x, y, w, h = face.box
        colour = COLOURS.get(face.dominant, (255, 255, 255))
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, thickness)
        ranked = sorted(face.emotions.items(), key=lambda kv: kv[1], reverse=True)
        label = f"{ranked[0][0]} {ranked[0][1]:.0%}  {ranked[1][0]} {ranked[1][1]:.0%}"
        if numbered:
            label = f"{number}: {label}"
        if not face.quality.ok:
            label += " [" + ",".join(face.quality.flags()) + "]"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = y - th - base - 4 if y - th - base - 4 >= 0 else y + h
        cv2.rectangle(out, (x, top), (x + tw + 4, top + th + base + 4), colour, cv2.FILLED)
        cv2.putText(
            out, label, (x + 2, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thickness, cv2.LINE_AA
        )
    return out


def save_annotated(bgr: npt.NDArray[np.uint8], result: ImageResult, path: Path) -> Path:
    """Write the annotated image (format from the suffix, e.g. ``.png``)."""
    if not cv2.imwrite(str(path), annotate(bgr, result)):
        raise InferenceError(f"cannot write the annotated image to {path}")
    return path
