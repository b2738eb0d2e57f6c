"""The process-wide emotion classifiers: the registered model of each channel, hot-reloaded.

A serving model is loaded lazily on first use (or eagerly by :func:`inference.preload` in
Celery's ``worker_process_init``), warmed up, and reused for every request. Between batches the
registry's pointer of the classifier's channel (``ACTIVE``, or ``LIVE`` for live frames) is
re-read at most once per ``poll_seconds``; when it names another version, that version is loaded
and swapped in, so activating or restoring a model needs no worker restart.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from inference import registry
from inference.classes import NUM_CLASSES
from inference.errors import ModelUnavailable
from inference.preprocessing import PreprocessParams, tta_views
from inference.serving import ServingModel

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0


def default_threads() -> int:
    """Intra-op threads per process: ``$MOODSAAS_INFERENCE_THREADS`` or 1 (one Celery child per core)."""
    raw = os.environ.get("MOODSAAS_INFERENCE_THREADS", "1")
    try:
        threads = int(raw)
    except ValueError as exc:
        raise ValueError(f"MOODSAAS_INFERENCE_THREADS must be an integer, got {raw!r}") from exc
    if threads < 0:
        raise ValueError(f"MOODSAAS_INFERENCE_THREADS must be >= 0, got {threads}")
    return threads


class Classifier:
    """Turns 48x48 face crops into calibrated probabilities with the version serving ``channel``.

    ``shares_with``: another classifier of the same registry whose loaded model this one reuses
    while both channels name the same version (live frames follow the active version unless the
    ``LIVE`` pointer says otherwise, and one copy of the model then serves both).
    """

    def __init__(
        self,
        root: Path | None = None,
        threads: int | None = None,
        poll_seconds: float = POLL_SECONDS,
        channel: registry.Channel = "active",
        shares_with: Classifier | None = None,
    ):
        if channel not in registry.CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; expected one of {registry.CHANNELS}")
        self.root = root
        self.threads = default_threads() if threads is None else threads
        self.poll_seconds = poll_seconds
        self.channel = channel
        self.shares_with = shares_with
        self._model: ServingModel | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def model(self) -> ServingModel:
        """The serving model of the active version, (re)loaded if the pointer moved."""
        now = time.monotonic()
        current = self._model
        if current is not None and now - self._checked < self.poll_seconds:
            return current
        with self._lock:
            current = self._model
            if current is not None and time.monotonic() - self._checked < self.poll_seconds:
                return current
            try:
                version = registry.serving_version(self.channel, self.root)
                if current is None or current.version != version:
                    loaded = self._load(version)
                    if current is not None:
                        log.info("emotion model hot-reloaded: %s -> %s", current.version, version)
                    self._model = current = loaded
            except (registry.RegistryError, OSError, ValueError) as exc:
                if current is None:
                    # The reason names registry paths: it goes to the log, the message stays path-free.
                    log.error("no usable emotion model: %s", exc)
                    raise ModelUnavailable(
                        "no usable emotion model: no version is active or the active one cannot be loaded"
                    ) from exc
                # Keep serving the loaded version rather than failing every request.
                log.error("cannot switch emotion model, still serving %s: %s", current.version, exc)
            self._checked = time.monotonic()
            return current

    def _load(self, version: str) -> ServingModel:
        other = self.shares_with
        if other is not None and registry.serving_version(other.channel, other.root) == version:
            return other.model()
        return ServingModel.load(registry.get(version, self.root), threads=self.threads)

    @property
    def params(self) -> PreprocessParams:
        return self.model().info.preprocess

    def probabilities(self, faces48: npt.NDArray[np.uint8], tta: str = "none") -> tuple[npt.NDArray[np.float32], str]:
        """Calibrated probabilities (N, 7) averaged over the TTA views, and the model version.

        All views of all faces go through the runtime as one batch.
        """
        model = self.model()
        if not len(faces48):
            return np.zeros((0, NUM_CLASSES), np.float32), model.version
        views = tta_views(faces48, tta, model.info.preprocess)
        n_views, n = views.shape[:2]
        logits = model.logits(views.reshape(n_views * n, *views.shape[2:]))
        probs = model.info.probabilities(logits, tta).reshape(n_views, n, -1).mean(axis=0)
        return probs.astype(np.float32), model.version


_default: Classifier | None = None
_default_lock = threading.Lock()


def default_classifier() -> Classifier:
    """The process-wide classifier of the active channel (created on first use)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Classifier()
    return _default
