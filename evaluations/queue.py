"""Enqueue the evaluation tasks: the one place that knows their names and argument shapes.

Actions, views and consumers call these typed helpers instead of importing ``evaluations.tasks``
(tasks import actions, never the reverse). Tasks are looked up by name in the Celery app, where
``evaluations.apps`` registered them at start-up, so eager mode (embedded, tests) runs them
in-process exactly like a worker would.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.db import transaction

ANALYSE_FRAME = "evaluations.analyse_frame"
ANALYSE_VIDEO = "evaluations.analyse_video"


@dataclass(frozen=True)
class FrameJob:
    """One frame (a live frame or an uploaded image) to analyse and record."""

    company_id: int
    session_id: int
    sequence: int
    captured_at: float
    """Unix time in seconds at which the server received the frame."""
    image: bytes
    inflight_slot: str | None = None
    """A live frame's slot in ``evaluations.realtime.InFlight``; None for uploaded images."""


def _send(name: str, args: tuple[Any, ...]) -> None:
    current_app.tasks[name].apply_async(args=args)


def analyse_frame(job: FrameJob) -> None:
    """Queue one frame now (the live consumer, which already counted it)."""
    image_b64 = base64.b64encode(job.image).decode("ascii")
    _send(ANALYSE_FRAME, (job.company_id, job.session_id, job.sequence, job.captured_at, image_b64, job.inflight_slot))


def analyse_frames_on_commit(jobs: Sequence[FrameJob]) -> None:
    """Queue frames once the current transaction commits (uploaded images)."""
    jobs = list(jobs)

    def send() -> None:
        for job in jobs:
            analyse_frame(job)

    transaction.on_commit(send)


def analyse_video_on_commit(company_id: int, session_id: int) -> None:
    """Queue a session's uploaded video once the current transaction commits."""
    transaction.on_commit(lambda: _send(ANALYSE_VIDEO, (company_id, session_id)))
