"""Validation of untrusted frames, images and videos before anything is written or queued.

Live frame wire format (one binary websocket message per frame)::

    bytes 0-3   sequence number, unsigned 32-bit big-endian, chosen by the client
    bytes 4-    one JPEG image (starts with FF D8 FF)

Every failure raises :class:`UploadError` with a stable ``code`` and a message fit for users.
"""

from __future__ import annotations

import math
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from accounts.exceptions import ActionError
from accounts.models import Actor
from evaluations import actions, frames
from evaluations.models import EvaluationSession

HEADER = struct.Struct(">I")
JPEG_MAGIC = b"\xff\xd8\xff"


class UploadError(ActionError):
    """Bad input (400): the message says exactly what is wrong."""


class PayloadTooLarge(UploadError):
    status_code = 413


@dataclass(frozen=True)
class LiveFrame:
    sequence: int
    jpeg: bytes


def parse_live_frame(message: bytes, max_bytes: int) -> LiveFrame:
    """Split a binary websocket message into its sequence number and JPEG bytes."""
    if len(message) <= HEADER.size:
        raise UploadError(
            "A frame is a 4-byte big-endian sequence number followed by a JPEG image.", code="frame_format"
        )
    (sequence,) = HEADER.unpack_from(message)
    jpeg = message[HEADER.size :]
    if len(jpeg) > max_bytes:
        raise PayloadTooLarge(
            f"Frame {sequence} is {len(jpeg):,} bytes; the limit is {max_bytes:,}.", code="frame_too_large"
        )
    if not jpeg.startswith(JPEG_MAGIC):
        raise UploadError(f"Frame {sequence} is not a JPEG image.", code="frame_not_jpeg")
    return LiveFrame(sequence=sequence, jpeg=jpeg)


def check_image(data: bytes, name: str, max_bytes: int) -> None:
    """Decode ``data`` fully (as the worker will) so a bad image is refused before anything is stored."""
    import inference

    check_image_size(data, name, max_bytes)
    try:
        # Engine.frame only decodes (no model is loaded): the same checks as the analysis path.
        inference.Engine().frame(data, inference.Options())
    except inference.InferenceError as exc:
        raise image_error(exc, name) from None


def check_image_size(data: bytes, name: str, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{name} is {len(data):,} bytes; the limit is {max_bytes:,}.", code="image_too_large")
    if not data:
        raise UploadError(f"{name} is empty.", code="image_empty")


def image_error(exc: Exception, name: str) -> UploadError:
    """The precise 4xx for an image the inference engine refused."""
    import inference

    if isinstance(exc, inference.ImageTooLarge):
        return PayloadTooLarge(f"{name}: {exc}", code="image_too_large")
    if isinstance(exc, inference.UnsupportedImage):
        return UploadError(f"{name}: {exc}", code="image_unsupported")
    return UploadError(f"{name}: {exc}", code="image_corrupt")


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    frames: int
    duration_seconds: float

    def samples(self, sample_fps: float) -> int:
        """How many frames sampling at ``sample_fps`` will analyse (an estimate from the header)."""
        return max(1, math.ceil(self.duration_seconds * min(sample_fps, self.fps)))


def check_video(path: Path, name: str, size: int, max_bytes: int) -> VideoInfo:
    """Refuse anything but a readable MP4 or WebM video within the size limit."""
    import cv2

    from inference import VideoError
    from inference.video import sampled_frames

    if size > max_bytes:
        raise PayloadTooLarge(f"{name} is {size:,} bytes; the limit is {max_bytes:,}.", code="video_too_large")
    with path.open("rb") as handle:
        head = handle.read(12)
    is_mp4 = head[4:8] == b"ftyp"
    is_webm = head.startswith(b"\x1a\x45\xdf\xa3")
    if not (is_mp4 or is_webm):
        raise UploadError(f"{name} is not an MP4 or WebM video.", code="video_unsupported")
    try:
        next(iter(sampled_frames(path, 1.0)))
    except VideoError as exc:
        raise UploadError(f"{name}: {exc}", code="video_corrupt") from None
    except StopIteration:
        raise UploadError(f"{name} has no readable frames.", code="video_corrupt") from None
    capture = cv2.VideoCapture(str(path))
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        capture.release()
    if not math.isfinite(fps) or fps <= 0:
        raise UploadError(f"{name} does not state its frame rate.", code="video_corrupt")
    return VideoInfo(fps=fps, frames=max(frames, 1), duration_seconds=max(frames, 1) / fps)


# --- Uploads through the API and the portal ------------------------------------------------------


def read_upload(upload: UploadedFile) -> bytes:
    upload.seek(0)
    return bytes(upload.read())


def queue_images(*, actor: Actor, session: EvaluationSession, files: Sequence[UploadedFile]) -> list[int]:
    """Decode every image first (one bad image refuses them all), then queue them; return their sequence numbers.

    A company that stores frames keeps the images as they were analysed (``evaluations.frames``),
    stored here, once they are queued, because this process holds them: the worker is handed a
    copy. A storage failure is logged and does not refuse the upload.
    """
    limit = settings.EVALUATIONS_MAX_IMAGES_PER_UPLOAD
    if len(files) > limit:
        raise UploadError(f"Send at most {limit} images at a time.", code="too_many_images")
    blobs = []
    for upload in files:
        data = read_upload(upload)
        check_image(data, upload.name or "image", settings.EVALUATIONS_MAX_IMAGE_BYTES)
        blobs.append(data)
    sequences = actions.add_images(actor=actor, session=session, images=blobs)
    frames.store_analysed_frames(session.company_id, session.pk, list(zip(sequences, blobs, strict=True)))
    return sequences


def queue_video(
    *, actor: Actor, session: EvaluationSession, upload: UploadedFile, sample_fps: float
) -> EvaluationSession:
    """Stage the video on disk, check it, attach it to the session and queue its analysis.

    The staged file is moved away on success and removed on any refusal: nothing half-written.
    """
    staging = Path(settings.MEDIA_ROOT) / "video-uploads" / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=staging, suffix=".video", delete=False) as handle:
        path = Path(handle.name)
        for chunk in upload.chunks():
            handle.write(chunk)
    try:
        info = check_video(path, upload.name or "video", upload.size or 0, settings.EVALUATIONS_MAX_VIDEO_BYTES)
        return actions.upload_video(
            actor=actor, session=session, file_path=path, sample_fps=sample_fps, frames_total=info.samples(sample_fps)
        )
    finally:
        path.unlink(missing_ok=True)
