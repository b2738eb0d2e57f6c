"""Video files: sample N frames per second and summarise the emotions second by second.

Error messages never name the file: uploads are read from server-side temporary paths, and
:class:`~inference.errors.VideoError` texts are shown to the person who sent the video.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from inference.api import ImageResult, Options, default_engine
from inference.classes import EMOTIONS
from inference.decode import frame_from_array
from inference.errors import VideoError

MAX_SAMPLE_FPS = 30.0


@dataclass(frozen=True)
class Second:
    """The summary of one second of video (the primary face of each sampled frame)."""

    second: int
    frames: int
    frames_with_face: int
    probabilities: tuple[float, ...] | None
    """Mean of the sampled frames' primary-face probabilities; None when no frame had a face."""

    @property
    def dominant(self) -> str | None:
        return None if self.probabilities is None else EMOTIONS[int(np.argmax(self.probabilities))]

    def to_json(self) -> dict[str, Any]:
        return {
            "second": self.second,
            "frames": self.frames,
            "frames_with_face": self.frames_with_face,
            "dominant": self.dominant,
            "emotions": None
            if self.probabilities is None
            else {k: round(v, 4) for k, v in zip(EMOTIONS, self.probabilities, strict=True)},
        }


@dataclass(frozen=True)
class VideoResult:
    path: str
    fps: float
    sample_fps: float
    frames_analysed: int
    model_version: str
    timeline: list[Second] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "fps": round(self.fps, 3),
            "sample_fps": self.sample_fps,
            "frames_analysed": self.frames_analysed,
            "model_version": self.model_version,
            "timeline": [s.to_json() for s in self.timeline],
        }


def sampled_frames(path: Path, sample_fps: float) -> Iterator[tuple[int, npt.NDArray[np.uint8]]]:
    """Yield (second, BGR frame) for ``sample_fps`` evenly spaced frames per second.

    Unsampled frames are only grabbed, not decoded into arrays, which keeps long videos cheap.
    """
    if not 0 < sample_fps <= MAX_SAMPLE_FPS:
        raise VideoError(f"sample rate must be in (0, {MAX_SAMPLE_FPS:g}] frames per second, got {sample_fps:g}")
    if not path.is_file():
        raise VideoError("the video file is missing")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoError("cannot open the video (unknown container or codec)")
    try:
        fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        if not math.isfinite(fps) or fps <= 0:
            raise VideoError("the video does not state its frame rate")
        index, last_slot = 0, -1
        while capture.grab():
            slot = math.floor(index / fps * sample_fps)
            if slot != last_slot:
                ok, frame = capture.retrieve()
                if ok and frame is not None:
                    last_slot = slot
                    yield int(index / fps), np.asarray(frame, np.uint8)
            index += 1
    finally:
        capture.release()


def video_fps(path: Path) -> float:
    capture = cv2.VideoCapture(str(path))
    try:
        return float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        capture.release()


def analyse_video(path: Path, sample_fps: float = 2.0, options: Options | None = None) -> VideoResult:
    """Analyse a video file: each second's sampled frames are classified as one batch.

    ``options`` defaults to the primary subject only: a timeline follows one customer.
    """
    options = options or Options(faces="primary")
    engine = default_engine()
    timeline: list[Second] = []
    pending: list[npt.NDArray[np.uint8]] = []
    current = -1
    analysed = 0
    version = ""

    def flush() -> None:
        nonlocal version
        if not pending:
            return
        results = engine.analyse_frames([frame_from_array(f, options.max_pixels) for f in pending], options)
        version = results[0].model_version
        timeline.append(summarise(current, results))
        pending.clear()

    for second, frame in sampled_frames(path, sample_fps):
        if second != current:
            flush()
            current = second
        pending.append(frame)
        analysed += 1
    flush()
    if not analysed:
        raise VideoError("the video has no readable frames")
    return VideoResult(str(path), video_fps(path), sample_fps, analysed, version, timeline)


def summarise(second: int, results: list[ImageResult]) -> Second:
    """Average the primary (largest) face's probabilities over the frames that have one."""
    primaries = [max(r.faces, key=lambda f: f.box[2] * f.box[3]) for r in results if r.faces]
    probs = None
    if primaries:
        mean = np.mean([p.probabilities for p in primaries], axis=0)
        probs = tuple(float(v) for v in mean)
    return Second(second=second, frames=len(results), frames_with_face=len(primaries), probabilities=probs)
