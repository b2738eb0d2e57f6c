"""Typed failures of the inference engine; callers catch :class:`InferenceError`."""

from __future__ import annotations


class InferenceError(Exception):
    """Base class: the input could not be analysed.

    The message is safe to show to users: it never names a server path (files, temporary
    uploads, the model registry); details of that kind go to the log or the ``__cause__``.
    """


class UnsupportedImage(InferenceError):
    """The bytes are a valid file of a kind we do not accept, or the array has a bad shape/dtype."""


class CorruptImage(InferenceError):
    """The file claims to be a supported image but cannot be decoded (corrupt or truncated)."""


class ImageTooLarge(InferenceError):
    """The image header announces more pixels than the limit (decompression-bomb guard)."""


class ModelUnavailable(InferenceError):
    """No usable emotion model is registered or the active one cannot be loaded."""


class VideoError(InferenceError):
    """A video file cannot be opened or has no readable frames."""
