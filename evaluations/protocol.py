"""The websocket protocol of evaluation sessions, in one place.

Every group name and every JSON message a client can receive is built here; the consumers, the
worker (``evaluations.recording``) and the actions import it, so a message has one shape
whatever sends it. ``docs/websocket.md`` documents the same messages for clients.

Groups (derived from server-side public ids only):

- ``session_group``: everyone watching one session (the agent page, API clients);
- ``company_group``: the company's dashboard (admins, owners, API tokens).

Session events go to both groups, so the dashboard sees what the agent sees. Messages that
answer one socket (``session.hello``, ``frame.rejected``, ``pong``, ``error``) are sent by the
consumer to that socket only.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction

from accounts.models import Company
from accounts.realtime import push, push_each

if TYPE_CHECKING:
    from evaluations.models import EvaluationSession

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TRY_AGAIN = 1013
"""The channel layer (Redis) is unavailable at the handshake: reconnect in a moment."""

EVENT_HANDLER = "session.event"
"""Channel-layer message type: Channels calls the consumers' ``session_event`` method."""
EVENTS_HANDLER = "session.events"
"""Channel-layer message of several events (``payloads``), each sent to the socket on its own."""


def session_group(public_id: uuid.UUID | str) -> str:
    """Channel-layer group of one session (from its server-side public id)."""
    return f"evaluations.session.{uuid.UUID(str(public_id)).hex}"


def company_group(public_id: uuid.UUID | str) -> str:
    """Channel-layer group of a company's live dashboard (from its server-side public id)."""
    return f"evaluations.company.{uuid.UUID(str(public_id)).hex}"


@functools.lru_cache(maxsize=4096)
def company_public_id(company_id: int) -> uuid.UUID:
    """A company's public id, cached per process: it never changes (``editable=False``)."""
    return Company.objects.values_list("public_id", flat=True).get(pk=company_id)


def session_groups(session_public_id: uuid.UUID | str, company_id: int) -> list[str]:
    """The groups every event of a session goes to: its own and its company's dashboard."""
    return [session_group(session_public_id), company_group(company_public_id(company_id))]


def broadcast_on_commit(session: EvaluationSession, payload: Mapping[str, Any]) -> None:
    """Send a session event to the session's and the company's groups once the transaction commits."""
    send_on_commit(session.public_id, session.company_id, payload)


def send_on_commit(session_public_id: uuid.UUID | str, company_id: int, payload: Mapping[str, Any]) -> None:
    """:func:`broadcast_on_commit` for callers that hold ids (workers)."""
    message = {"type": EVENT_HANDLER, "payload": {"session": str(session_public_id), **payload}}
    groups = session_groups(session_public_id, company_id)
    transaction.on_commit(lambda: push(groups, message))


def push_events_on_commit(events: Mapping[str, Sequence[Mapping[str, Any]]], company_id: int) -> None:
    """Send many sessions' events (session public id -> payloads) of one company at once, on commit.

    A batch of live frames makes one channel-layer message per session and one for the company's
    dashboard, whatever the number of frames: the consumers unpack ``session.events`` into the
    same one-event websocket messages :func:`send_on_commit` produces.
    """
    messages: list[tuple[str, dict[str, Any]]] = []
    everything: list[dict[str, Any]] = []
    for session_public_id, payloads in events.items():
        stamped = [{"session": str(session_public_id), **payload} for payload in payloads]
        if stamped:
            messages.append((session_group(session_public_id), {"type": EVENTS_HANDLER, "payloads": stamped}))
            everything += stamped
    if not everything:
        return
    messages.append((company_group(company_public_id(company_id)), {"type": EVENTS_HANDLER, "payloads": everything}))
    transaction.on_commit(lambda: push_each(messages))


# --- Session events (both groups) ----------------------------------------------------------------


def session_status(session: EvaluationSession, **extra: Any) -> dict[str, Any]:
    """``session.status``: the session was started, paused, resumed, finished or cancelled."""
    return {"type": "session.status", "status": session.status, **extra}


def frame_result(
    *,
    sequence: int,
    captured_at: datetime,
    offset_seconds: float,
    model_version: str,
    faces: list[dict[str, Any]],
    grade: Mapping[str, Any],
    stats: Mapping[str, Any],
) -> dict[str, Any]:
    """``frame.result``: one analysed frame, its faces, the running grade and the counters."""
    return {
        "type": "frame.result",
        "sequence": sequence,
        "captured_at": captured_at.isoformat(),
        "offset_seconds": round(offset_seconds, 3),
        "model_version": model_version,
        "faces": faces,
        "grade": dict(grade),
        "stats": dict(stats),
    }


def frame_failed(*, sequence: int, detail: str, grade: Mapping[str, Any], stats: Mapping[str, Any]) -> dict[str, Any]:
    """``frame.failed``: a frame that could not be analysed (corrupt image, time-out)."""
    return {"type": "frame.failed", "sequence": sequence, "detail": detail, "grade": dict(grade), "stats": dict(stats)}


def frame_dropped(sequence: int, reason: str, **extra: Any) -> dict[str, Any]:
    """``frame.dropped``: a valid frame shed on purpose (``rate``, ``busy``, ``stale``, ``queue_unavailable``)."""
    return {"type": "frame.dropped", "sequence": sequence, "reason": reason, **extra}


def video_progress(session: EvaluationSession, grade: Mapping[str, Any]) -> dict[str, Any]:
    """``video.progress``: an uploaded video's analysis moved on."""
    return {
        "type": "video.progress",
        "video_status": session.video_status,
        "frames_done": session.video_frames_done,
        "frames_total": session.video_frames_total,
        "progress": session.video_progress,
        "error": session.video_error,
        "grade": dict(grade),
    }


# --- Replies to one socket -----------------------------------------------------------------------


def session_hello(
    *, session_public_id: uuid.UUID, status: str, channel: str, can_send_frames: bool, limits: Mapping[str, int]
) -> dict[str, Any]:
    """``session.hello``: the first message on a session socket."""
    return {
        "type": "session.hello",
        "session": str(session_public_id),
        "status": status,
        "channel": channel,
        "can_send_frames": can_send_frames,
        "limits": dict(limits),
    }


def dashboard_hello(company_public_id: uuid.UUID) -> dict[str, Any]:
    """``dashboard.hello``: the first message on a dashboard socket."""
    return {"type": "dashboard.hello", "company": str(company_public_id)}


def frame_rejected(sequence: int | None, code: str, detail: str) -> dict[str, Any]:
    """``frame.rejected``: an invalid frame (size, type, duplicate sequence, session not open)."""
    return {"type": "frame.rejected", "sequence": sequence, "code": code, "detail": detail}


def pong(at: datetime) -> dict[str, Any]:
    return {"type": "pong", "at": at.isoformat()}


def error(code: str, detail: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "detail": detail}
