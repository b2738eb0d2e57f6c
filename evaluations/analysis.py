"""The one adapter between evaluations and the ``inference`` library.

It owns which ``inference.Options`` each channel uses and turns ``inference`` results into the
frames the worker records and grading folds (:class:`FrameInput`). ``inference`` is imported
lazily: the web process only pays for it on the first one-shot analysis.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from inference.results import Face, ImageResult

if TYPE_CHECKING:
    from inference import Options


class Use(enum.Enum):
    """What a frame is: it decides the detector and the test-time augmentation."""

    LIVE = "live"
    UPLOAD = "upload"
    VIDEO = "video"


LIVE_DETECTOR: Literal["full", "short", "auto"] = "auto"
"""Live frames come from the agent's camera facing the customer: the face is usually large, and
the short-range detector finds it at a third of the full-range cost (docs/decisions.md "Face
detector"); a customer further away (a face under about a tenth of the frame) is missed by it,
so a frame with no short-range face goes through the full range too. Uploaded images and videos
may show small or distant faces: they use the full range."""

LIVE_TTA = "flip"
UPLOAD_TTA = "ten"
"""Test-time augmentation in production (docs/decisions.md): live frames average the face and its
mirror image (1.53 ms of CPU per face with moodnet-4-ens against 0.75 without; ten crops cost
7.33 ms, docs/benchmarks.md "Test-time augmentation cost"); uploaded images, videos and the
one-shot analyse endpoint, far fewer frames, use the ten crops the model report leads with.
Live frames are classified by the registry's ``live`` channel (the ``LIVE`` pointer: a network
cheaper per face), everything else by the active version (docs/training.md, "Registry")."""


@dataclass(frozen=True)
class FrameInput:
    """One analysed frame handed to ``evaluations.recording.record_observations`` (faces largest first)."""

    sequence: int
    captured_at: datetime
    faces: tuple[Face, ...] = ()
    model_version: str = ""
    offset_seconds: float | None = None  # None: seconds since the session started
    error: str = ""  # non-empty: the frame could not be analysed
    dropped: str = ""  # non-empty: a live frame shed unanalysed, and why (``stale``, ``lost``)
    message: str = ""  # a live frame's message nonce (``SessionFrame.message``)
    age_ms: int | None = None  # a stale frame's age when a worker got it


def options(use: Use, faces: Literal["all", "primary"] = "all") -> Options:
    """The ``inference.Options`` of a live frame, an uploaded image or a video frame."""
    import inference

    if use is Use.LIVE:
        return inference.Options(faces=faces, detector=LIVE_DETECTOR, tta=LIVE_TTA, model="live")
    return inference.Options(faces=faces, detector="full", tta=UPLOAD_TTA)


def frame_input(
    sequence: int, captured_at: datetime, result: ImageResult, offset_seconds: float | None = None
) -> FrameInput:
    """A recorded frame from an ``inference`` result."""
    return FrameInput(
        sequence=sequence,
        captured_at=captured_at,
        faces=tuple(result.faces),  # largest first, as inference returns them
        model_version=result.model_version,
        offset_seconds=offset_seconds,
    )


def failed_frame(sequence: int, captured_at: datetime, error: str) -> FrameInput:
    """A frame that could not be analysed, with the reason the client is told."""
    return FrameInput(sequence=sequence, captured_at=captured_at, error=error)


def analyse_image(data: bytes, use: Use, faces: Literal["all", "primary"] = "all") -> ImageResult:
    """Analyse one encoded image; raises ``inference.InferenceError`` subclasses."""
    import inference

    return inference.analyse_image(data, options(use, faces))


def analyse_encoded(images: Sequence[bytes], use: Use) -> list[ImageResult | str]:
    """Analyse encoded images in one batch: a result per image, or why it could not be analysed.

    Each image is decoded on its own (a corrupt one fails alone), then the faces of all the
    decodable ones are classified together: one model call for a batch of live frames.
    """
    import inference
    from inference.api import default_engine

    engine = default_engine()
    chosen = options(use)
    outcomes: list[ImageResult | str] = []
    decoded = []
    for data in images:
        try:
            decoded.append(engine.frame(data, chosen))
        except inference.InferenceError as exc:
            outcomes.append(str(exc))
        else:
            outcomes.append("")
    results = iter(engine.analyse_frames(decoded, chosen) if decoded else [])
    return [outcome or next(results) for outcome in outcomes]


def analyse_images(images: Sequence[Any], use: Use) -> Iterable[ImageResult]:
    """Analyse decoded video frames in one batch."""
    import inference

    return inference.analyse_frames(list(images), options(use))


@dataclass(frozen=True)
class AnnotatedImage:
    """An analysed image and a JPEG of it with every face's box and dominant emotion drawn on."""

    result: ImageResult
    jpeg: bytes
    width: int  # of the JPEG (the result's boxes are in the uploaded image's pixels)
    height: int


ANNOTATED_SIDE = 1024
"""Longest side of an annotated picture, whatever the upload's: labels drawn at this size read well
on a laptop, and the page that carries the JPEG inline stays around 200 KB."""


def annotate_image(data: bytes, use: Use) -> AnnotatedImage:
    """Analyse one encoded image and draw its faces on it, all in memory (the public demo page).

    1. Decode once, with ``analyse_image``'s checks (formats, pixel limit, EXIF orientation).
    2. Analyse the decoded picture at full size with ``use``'s options, as ``analyse_image`` would.
    3. Resize the picture to :data:`ANNOTATED_SIDE` (boxes with it), then draw
       (``inference.annotate``) so that labels have the same size on small and large photos.
    """
    import dataclasses

    import cv2

    from inference.annotate import annotate
    from inference.api import default_engine

    engine = default_engine()
    chosen = options(use)
    frame = engine.frame(data, chosen)
    result = engine.analyse_frames([frame], chosen)[0]
    scale = ANNOTATED_SIDE / max(frame.width, frame.height)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    picture: Any = cv2.resize(frame.bgr, None, fx=scale, fy=scale, interpolation=interpolation)

    def resized(face: Face) -> Face:
        x, y, w, h = (round(v * scale) for v in face.box)
        return dataclasses.replace(face, box=(x, y, w, h))

    scaled = dataclasses.replace(result, faces=[resized(face) for face in result.faces])
    ok, encoded = cv2.imencode(".jpg", annotate(picture, scaled, numbered=True), [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok, "OpenCV always encodes an 8-bit BGR image as JPEG"
    height, width = picture.shape[:2]
    return AnnotatedImage(result=result, jpeg=encoded.tobytes(), width=width, height=height)
