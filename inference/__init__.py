"""Face detection and emotion classification runtime (no Django; plain dataclasses).

Public API: :mod:`inference.api`. Preload in Celery workers with::

    @worker_process_init.connect
    def _load_models(**_):
        inference.preload()
"""

from __future__ import annotations

from inference.api import Engine, Options, analyse_file, analyse_frames, analyse_image, preload
from inference.errors import (
    CorruptImage,
    ImageTooLarge,
    InferenceError,
    ModelUnavailable,
    UnsupportedImage,
    VideoError,
)
from inference.results import Face, ImageResult, Quality

__all__ = [
    "CorruptImage",
    "Engine",
    "Face",
    "ImageResult",
    "ImageTooLarge",
    "InferenceError",
    "ModelUnavailable",
    "Options",
    "Quality",
    "UnsupportedImage",
    "VideoError",
    "analyse_file",
    "analyse_frames",
    "analyse_image",
    "preload",
]
