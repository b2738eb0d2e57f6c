"""The FER2013 emotion classes, in the canonical label order used everywhere."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(EMOTIONS)
EMOTION_INDEX: dict[str, int] = {name: i for i, name in enumerate(EMOTIONS)}
