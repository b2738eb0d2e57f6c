"""What the inference engine returns: plain frozen dataclasses, importable without OpenCV or ONNX.

Grading (``evaluations.grading``) folds these same ``Face`` values, so a face has one shape from
the detector to the grade; stored observations turn back into them with :meth:`Quality.from_flags`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from inference.classes import EMOTIONS

QUALITY_FLAGS = ("too_small", "too_dark", "blurred", "partly_outside")


@dataclass(frozen=True)
class Quality:
    too_small: bool = False
    too_dark: bool = False
    blurred: bool = False
    partly_outside: bool = False

    @property
    def ok(self) -> bool:
        return not (self.too_small or self.too_dark or self.blurred or self.partly_outside)

    def flags(self) -> list[str]:
        return [name for name in QUALITY_FLAGS if getattr(self, name)]

    @classmethod
    def from_flags(cls, flags: Iterable[str]) -> Quality:
        """The quality a list of flag names describes (unknown names are refused)."""
        names = set(flags)
        unknown = names - set(QUALITY_FLAGS)
        if unknown:
            raise ValueError(f"unknown quality flags: {', '.join(sorted(unknown))}")
        return cls(**{name: name in names for name in QUALITY_FLAGS})


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]
    """x, y, width, height in pixels of the (EXIF-oriented) image."""
    score: float
    """Detector confidence, 0-1."""
    probabilities: tuple[float, ...]
    """The 7 emotion probabilities in FER2013 order (``inference.classes.EMOTIONS``)."""
    quality: Quality = field(default_factory=Quality)
    model_version: str = ""

    @property
    def dominant(self) -> str:
        # The first of equal maxima, like numpy.argmax.
        return EMOTIONS[max(range(len(self.probabilities)), key=self.probabilities.__getitem__)]

    @property
    def emotions(self) -> dict[str, float]:
        return dict(zip(EMOTIONS, self.probabilities, strict=True))

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]

    def to_json(self) -> dict[str, Any]:
        return {
            "box": list(self.box),
            "score": round(self.score, 4),
            "emotions": {k: round(v, 4) for k, v in self.emotions.items()},
            "dominant": self.dominant,
            "quality": self.quality.flags(),
            "model_version": self.model_version,
        }


@dataclass(frozen=True)
class ImageResult:
    width: int
    height: int
    faces: list[Face] = field(default_factory=list)
    model_version: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "model_version": self.model_version,
            "faces": [f.to_json() for f in self.faces],
        }
