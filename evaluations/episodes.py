"""Sustained negative emotion in a running session: pure detection, no database.

Rules (docs/notifications.md "alert.raised"):

1. Only usable frames count, with grading's rules: the primary face of the frame, a confident
   detection and no excluded quality flag (``grading.is_usable``). Other frames neither extend
   nor break a run.
2. A frame is negative when its primary face's dominant emotion is angry, disgust or fear.
3. A run is consecutive negative usable frames; a usable frame with any other dominant emotion
   ends it, and so does a gap of more than ``MAX_GAP_SECONDS`` between two of its frames (the
   camera was off, the session paused, the customer looked away): the next negative frame starts
   a new run.
4. A run becomes an *episode* when its latest frame is at least ``threshold`` seconds after its
   first one. It is reported once, at that frame: start = the run's first frame, end = that frame.
   The run may go on; it is not reported again.
5. Frames are folded in arrival order; a frame older than the latest usable one already folded
   (a late worker) is ignored, so a retried or reordered batch never invents or repeats an episode.

The run is a few numbers kept with the session's running grade (``STATE_KEY`` in
``grade_state``), so detection survives worker restarts.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from evaluations.grading import Frame, Rubric, is_usable, primary_face_index

NEGATIVE_EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear")
MAX_GAP_SECONDS = 5.0
STATE_KEY = "negative_run"
"""Where the run lives inside ``EvaluationSession.grade_state`` (grading ignores the key)."""


@dataclass(frozen=True)
class Episode:
    """A sustained negative stretch of a session, reported once (offsets in session seconds)."""

    start_seconds: float
    end_seconds: float
    threshold_seconds: float
    frames: int
    emotions: dict[str, int]

    @property
    def duration_seconds(self) -> float:
        return round(self.end_seconds - self.start_seconds, 3)

    def to_json(self) -> dict[str, Any]:
        return {
            "start_seconds": round(self.start_seconds, 3),
            "end_seconds": round(self.end_seconds, 3),
            "duration_seconds": self.duration_seconds,
            "threshold_seconds": self.threshold_seconds,
            "frames": self.frames,
            "emotions": dict(self.emotions),
        }


@dataclass
class NegativeRun:
    """The current run of negative usable frames; JSON round-trips through :meth:`to_json`."""

    start: float | None = None
    last: float | None = None
    frames: int = 0
    emotions: dict[str, int] = field(default_factory=dict)
    reported: bool = False
    latest: float = -math.inf

    def add(self, frame: Frame, rubric: Rubric, threshold: float) -> Episode | None:
        """Fold one frame in; return the episode if this frame makes the run one (rules above)."""
        index = primary_face_index(frame.faces)
        if index is None or not is_usable(frame.faces[index], rubric):
            return None
        t = frame.offset_seconds
        if t < self.latest:
            return None
        self.latest = t
        emotion = frame.faces[index].dominant
        if emotion not in NEGATIVE_EMOTIONS:
            self._reset()
            return None
        if self.last is not None and t - self.last > MAX_GAP_SECONDS:
            self._reset()
        if self.start is None:
            self.start = t
        self.last = t
        self.frames += 1
        self.emotions[emotion] = self.emotions.get(emotion, 0) + 1
        if self.reported or t - self.start < threshold:
            return None
        self.reported = True
        return Episode(
            start_seconds=self.start,
            end_seconds=t,
            threshold_seconds=threshold,
            frames=self.frames,
            emotions={e: self.emotions[e] for e in NEGATIVE_EMOTIONS if e in self.emotions},
        )

    def _reset(self) -> None:
        self.start = self.last = None
        self.frames = 0
        self.emotions = {}
        self.reported = False

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "last": self.last,
            "frames": self.frames,
            "emotions": dict(self.emotions),
            "reported": self.reported,
            "latest": None if self.latest == -math.inf else self.latest,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> NegativeRun:
        if not data:
            return cls()
        return cls(
            start=data.get("start"),
            last=data.get("last"),
            frames=int(data.get("frames", 0)),
            emotions={str(k): int(v) for k, v in (data.get("emotions") or {}).items()},
            reported=bool(data.get("reported", False)),
            latest=-math.inf if data.get("latest") is None else float(data["latest"]),
        )


# --- The threshold ------------------------------------------------------------------------------

THRESHOLD_SOURCES: list[Callable[[int], float | None]] = []
"""Functions returning a company's own alert threshold in seconds (None: the default).

Apps above evaluations register one when they are ready (notifications keeps the company
setting), so evaluations imports none of them; ``settings.NOTIFICATIONS_NEGATIVE_ALERT_SECONDS``
is the default.
"""

THRESHOLD_CACHE_SECONDS = 60.0
_cache: dict[int, tuple[float, float]] = {}
_cache_lock = threading.Lock()


def threshold_seconds(company_id: int) -> float:
    """The company's alert threshold, cached per process for ``THRESHOLD_CACHE_SECONDS``.

    Every live frame asks; the cache keeps the answer to a dictionary lookup, and a changed
    setting reaches every worker within a minute (at once in the process that changed it).
    """
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(company_id)
    if cached is not None and cached[1] > now:
        return cached[0]
    value: float = float(settings.NOTIFICATIONS_NEGATIVE_ALERT_SECONDS)
    for source in THRESHOLD_SOURCES:
        own = source(company_id)
        if own is not None:
            value = float(own)
            break
    with _cache_lock:
        _cache[company_id] = (value, now + THRESHOLD_CACHE_SECONDS)
    return value


def forget_threshold(company_id: int | None = None) -> None:
    """Drop the cached threshold of ``company_id`` (or all): a setting just changed."""
    with _cache_lock:
        if company_id is None:
            _cache.clear()
        else:
            _cache.pop(company_id, None)
