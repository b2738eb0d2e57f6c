"""The public API of the inference engine: plain dataclasses in, plain dataclasses out.

    from inference import Options, analyse_image
    result = analyse_image(jpeg_bytes, Options(faces="primary"))
    for face in result.faces:
        print(face.box, face.dominant, face.emotions, face.quality.ok)

Images are bytes (JPEG, PNG or WebP) or OpenCV-style arrays (gray, BGR or BGRA, 8- or 16-bit).
Every failure is an :class:`~inference.errors.InferenceError` subclass; a frame with no face
gives an empty ``faces`` list, not an error.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from inference.classify import Classifier, default_classifier
from inference.decode import MAX_PIXELS, DecodedImage, decode_bytes, frame_from_array
from inference.detect import BlazeFace, Detection, detect_zoomed_out
from inference.errors import InferenceError, UnsupportedImage
from inference.preprocessing import TTA_MODES, PreprocessParams, crop_face
from inference.results import Face, ImageResult, Quality

ImageInput = bytes | bytearray | memoryview | npt.NDArray[Any]

SMALL_FACE = 48
"""Faces narrower than FER2013's 48 px are upscaled for the model: flagged ``too_small``."""
DARK_MEAN = 50.0
"""Mean gray level of the face crop below which it is flagged ``too_dark``."""
BLUR_VARIANCE = 300.0
"""Variance of the Laplacian of the 48x48 crop below which it is flagged ``blurred``.

Measured: 99% of FER2013 PublicTest faces score above 1,680; the astronaut photo's face 2,140;
the same photo blurred with a Gaussian of sigma 2 px 440, 3 px 150, 4 px 76.
"""


@dataclass(frozen=True)
class Options:
    faces: Literal["all", "primary"] = "all"
    """``all`` faces, or only the ``primary`` subject (the largest face)."""
    min_face_size: int = 20
    """Ignore faces whose box side is smaller than this many pixels."""
    tta: str = "none"
    """Test-time augmentation: ``none``, ``flip`` or ``ten`` (see ``inference.preprocessing.tta_views``)."""
    min_score: float = 0.5
    """Detector confidence threshold."""
    max_pixels: int = MAX_PIXELS
    """Refuse images whose header announces more pixels than this."""
    detector: Literal["full", "short", "auto"] = "full"
    """BlazeFace ``full`` range (any face of 20 px and more) or ``short`` range: ~3x cheaper, but
    only faces larger than about a tenth of the frame, with slightly tighter boxes. ``auto``: short
    range, and full range for a frame where it finds no face; for a camera that usually faces the
    subject at arm's length but may see them further away (docs/decisions.md, "Live frames")."""
    model: Literal["active", "live"] = "active"
    """Which registry channel's emotion model classifies the faces: the ``active`` version, or the
    ``live`` one that serves frames streamed from a camera (``inference.registry``)."""
    zoom_out: bool = True
    """When no face is found, look again in the frame shrunk into a larger canvas (short range,
    ``inference.detect.detect_zoomed_out``): a close-up face that fills the frame, partly covered
    by a hand say, is found there. Costs one short-range detection on frames without a face."""

    def __post_init__(self) -> None:
        if self.faces not in ("all", "primary"):
            raise ValueError(f"faces must be 'all' or 'primary', got {self.faces!r}")
        if self.detector not in ("full", "short", "auto"):
            raise ValueError(f"detector must be 'full', 'short' or 'auto', got {self.detector!r}")
        if self.model not in ("active", "live"):
            raise ValueError(f"model must be 'active' or 'live', got {self.model!r}")
        if self.tta not in TTA_MODES:
            raise ValueError(f"tta must be one of {TTA_MODES}, got {self.tta!r}")
        if self.min_face_size < 1 or self.max_pixels < 1 or not 0.0 < self.min_score < 1.0:
            raise ValueError("min_face_size and max_pixels must be positive and min_score in (0, 1)")


def assess(gray: npt.NDArray[np.uint8], box: tuple[int, int, int, int], face48: npt.NDArray[np.uint8]) -> Quality:
    """Quality flags of one face: size, exposure and sharpness of its crop, and frame clipping."""
    x, y, w, h = box
    frame_h, frame_w = gray.shape[:2]
    sharpness = float(cv2.Laplacian(face48, cv2.CV_32F).var())
    return Quality(
        too_small=bool(max(w, h) < SMALL_FACE),
        too_dark=bool(float(face48.mean()) < DARK_MEAN),
        blurred=bool(sharpness < BLUR_VARIANCE),
        partly_outside=bool(x < 0 or y < 0 or x + w > frame_w or y + h > frame_h),
    )


def _select(detections: list[Detection], options: Options) -> list[Detection]:
    kept = [d for d in detections if max(d.box[2], d.box[3]) >= options.min_face_size]
    kept.sort(key=lambda d: d.box[2] * d.box[3], reverse=True)
    return kept[:1] if options.faces == "primary" else kept


WARM_SHAPES = ((480, 640), (720, 1280), (640, 640))
"""Frame shapes whose detector sessions :meth:`Engine.preload` makes (4:3 and 16:9 cameras, square
photos); another shape pays 6-17 ms once, on its first frame (``BlazeFace.session``)."""


class Engine:
    """Detector plus classifier. One per process (see :func:`default_engine`); thread-safe."""

    def __init__(self, classifier: Classifier | None = None, detector: BlazeFace | None = None):
        self.classifier = classifier or default_classifier()
        self.live_classifier = Classifier(
            self.classifier.root,
            self.classifier.threads,
            self.classifier.poll_seconds,
            channel="live",
            shares_with=self.classifier,
        )
        self._detectors: dict[str, BlazeFace] = {} if detector is None else {"full": detector}
        self._lock = threading.Lock()

    @property
    def detector(self) -> BlazeFace:
        """The full-range detector (the default)."""
        return self.detector_for("full")

    def detector_for(self, model: str) -> BlazeFace:
        """The ``full`` or ``short`` range detector, loaded on first use (the classifier's thread count)."""
        detector = self._detectors.get(model)
        if detector is None:
            with self._lock:
                detector = self._detectors.get(model)
                if detector is None:
                    detector = self._detectors[model] = BlazeFace(model=model, threads=self.classifier.threads)
        return detector

    def classifier_for(self, options: Options) -> Classifier:
        """The classifier of ``options.model``'s channel."""
        return self.live_classifier if options.model == "live" else self.classifier

    def preload(self, detectors: Sequence[str] = ("full", "short")) -> str:
        """Load and warm up the detectors and both channels' models; return the active model version."""
        for model in detectors:
            for height, width in WARM_SHAPES:  # a detector session per input shape: make the usual ones now
                self.detector_for(model).detect(np.zeros((height, width, 3), np.uint8))
        version = self.classifier.model().version
        self.live_classifier.model()
        return version

    def frame(self, image: ImageInput, options: Options) -> DecodedImage:
        if isinstance(image, bytes | bytearray | memoryview):
            return decode_bytes(bytes(image), options.max_pixels)
        if isinstance(image, np.ndarray):
            return frame_from_array(image, options.max_pixels)
        raise UnsupportedImage(f"expected image bytes or a numpy array, got {type(image).__name__}")

    def detect(self, frame: DecodedImage, options: Options) -> list[Detection]:
        """The faces of one frame that ``options`` keeps, largest first.

        1. The chosen detector (``auto``: the short range, then the full range if it found none).
        2. Still none (or only boxes under ``min_face_size``) and ``zoom_out``: the short range
           again on the frame shrunk into a larger canvas, boxes mapped back and clipped.
        """
        first = self.detector_for("short" if options.detector == "auto" else options.detector)
        chosen = _select(first.detect(frame.bgr), options)
        if not chosen and options.detector == "auto":
            chosen = _select(self.detector_for("full").detect(frame.bgr), options)
        if not chosen and options.zoom_out:
            chosen = _select(detect_zoomed_out(self.detector_for("short"), frame.bgr), options)
        return chosen

    def analyse_frames(self, frames: Sequence[DecodedImage], options: Options) -> list[ImageResult]:
        """Detect faces in every frame, then classify all faces of all frames in one batch."""
        classifier = self.classifier_for(options)
        params: PreprocessParams = classifier.params
        per_frame: list[list[Detection]] = []
        crops: list[npt.NDArray[np.uint8]] = []
        for frame in frames:
            chosen = self.detect(frame, options)
            per_frame.append(chosen)
            crops.extend(crop_face(frame.gray, d.box, params) for d in chosen)
        faces48 = np.stack(crops) if crops else np.zeros((0, params.image_size, params.image_size), np.uint8)
        probs, version = classifier.probabilities(faces48, options.tta)
        results, i = [], 0
        for frame, chosen in zip(frames, per_frame, strict=True):
            faces = []
            for det in chosen:
                faces.append(
                    Face(
                        box=(int(det.box[0]), int(det.box[1]), int(det.box[2]), int(det.box[3])),
                        score=float(det.score),
                        probabilities=tuple(float(p) for p in probs[i]),
                        quality=assess(frame.gray, det.box, faces48[i]),
                        model_version=version,
                    )
                )
                i += 1
            results.append(ImageResult(width=frame.width, height=frame.height, faces=faces, model_version=version))
        return results


_engine: Engine | None = None
_engine_lock = threading.Lock()


def default_engine() -> Engine:
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = Engine()
    return _engine


def analyse_image(image: ImageInput, options: Options = Options()) -> ImageResult:
    """Analyse one image given as encoded bytes or an array."""
    engine = default_engine()
    return engine.analyse_frames([engine.frame(image, options)], options)[0]


def analyse_frames(images: Sequence[ImageInput], options: Options = Options()) -> list[ImageResult]:
    """Analyse a batch of frames (e.g. one second of video); faces are classified in one batch.

    A bad frame raises for the whole batch; callers that want per-frame errors call
    :func:`analyse_image` per frame instead.
    """
    engine = default_engine()
    return engine.analyse_frames([engine.frame(image, options) for image in images], options)


def analyse_file(path: Path, options: Options = Options()) -> ImageResult:
    """Analyse an image file (reads the bytes; the same checks as uploaded bytes)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        # The caller knows the path; the message, which may reach a user, does not repeat it.
        raise InferenceError(f"cannot read the image file: {exc.strerror or type(exc).__name__}") from exc
    return analyse_image(data, options)


def preload(detectors: Sequence[str] = ("full", "short")) -> str:
    """Load the detectors (``full``, ``short``: the second look for close-ups uses it) and both channels' emotion models now.

    Call from ``worker_process_init``. Returns the model version. Later calls are cheap.
    """
    return default_engine().preload(detectors)
