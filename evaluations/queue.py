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
ANALYSE_LIVE_FRAMES = "evaluations.analyse_live_frames"
ANALYSE_VIDEO = "evaluations.analyse_video"

LIVE_SERIALIZER = "msgpack"
"""Live batches carry raw JPEG bytes: msgpack (declared in ``accept_content``, data only, no code)
spares the base64 round trip JSON would need for every frame."""


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
    message: str = ""
    """A live frame's message nonce (``SessionFrame.message``): tells a redelivered task from a re-sent frame."""
    store: bool = False
    """The company keeps analysed frames (``evaluations.frames``, which checks again before storing)."""

    def live_args(self) -> dict[str, Any]:
        return {
            "company": self.company_id,
            "session": self.session_id,
            "sequence": self.sequence,
            "captured_at": self.captured_at,
            "image": self.image,
            "slot": self.inflight_slot,
            "message": self.message,
            "store": self.store,
        }

    @classmethod
    def from_live_args(cls, args: dict[str, Any]) -> FrameJob:
        return cls(
            company_id=int(args["company"]),
            session_id=int(args["session"]),
            sequence=int(args["sequence"]),
            captured_at=float(args["captured_at"]),
            image=bytes(args["image"]),
            inflight_slot=str(args["slot"]),
            message=str(args["message"]),
            store=bool(args.get("store", False)),
        )


def _send(name: str, args: tuple[Any, ...]) -> None:
    current_app.tasks[name].apply_async(args=args)


def analyse_live_frames(jobs: Sequence[FrameJob]) -> None:
    """Queue a batch of live frames (of any sessions) as one task, now (``evaluations.realtime.FrameBatcher``)."""
    current_app.tasks[ANALYSE_LIVE_FRAMES].apply_async(
        args=([job.live_args() for job in jobs],), serializer=LIVE_SERIALIZER
    )


def analyse_frame(job: FrameJob) -> None:
    """Queue one uploaded image now."""
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
