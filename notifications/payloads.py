"""The ``data`` of every event, in one place (schema version ``outbox.PAYLOAD_VERSION``).

E-mails, in-app alerts and webhooks all render from these dictionaries, so a field means the
same everywhere. docs/notifications.md documents each shape; change both together.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse

from evaluations.episodes import Episode
from evaluations.grading import GRADED, INSUFFICIENT
from evaluations.models import EvaluationSession
from notifications.models import Event, WebhookEndpoint

ALERT_GRADE = "grade"
ALERT_SUSTAINED_NEGATIVE = "sustained_negative"
ALERT_LETTERS = frozenset({"D", "F"})


def absolute_url(path: str) -> str:
    """``path`` on the public site (``SITE_URL``): e-mails and webhooks leave the request behind."""
    return settings.SITE_URL.rstrip("/") + path


def session_url(session_public_id: Any) -> str:
    return absolute_url(reverse("portal-session", kwargs={"session_id": session_public_id}))


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def session_summary(session: EvaluationSession) -> dict[str, Any]:
    """A session as events describe it: who, when, and its grade so far (or final)."""
    graded = session.grade_letter not in ("", INSUFFICIENT)
    frozen = session.final_grade or {}
    agent = session.agent
    return {
        "id": str(session.public_id),
        "status": session.status,
        "channel": session.channel,
        "customer_reference": session.customer_reference,
        "agent": {"email": agent.email, "name": agent.get_full_name()} if agent is not None else None,
        "started_at": _iso(session.started_at),
        "ended_at": _iso(session.ended_at),
        "grade": {
            "outcome": GRADED if graded else INSUFFICIENT,
            "letter": session.grade_letter if graded else None,
            "score": session.score,
            "confidence": session.confidence,
            "frames": frozen.get("frames"),
            "usable_frames": frozen.get("usable_frames"),
            "trajectory": session.trajectory or None,
        },
        "url": session_url(session.public_id),
    }


def session_finished(session: EvaluationSession) -> dict[str, Any]:
    """``session.finished``: a session's grade was frozen."""
    return {"session": session_summary(session)}


def grade_alert(session: EvaluationSession) -> dict[str, Any]:
    """``alert.raised`` with reason ``grade``: a session finished with D or F."""
    return {"reason": ALERT_GRADE, "session": session_summary(session), "episode": None}


def episode_alert(session: EvaluationSession, episode: Episode) -> dict[str, Any]:
    """``alert.raised`` with reason ``sustained_negative``: a running session's customer looked
    angry, disgusted or afraid for ``threshold_seconds`` in a row."""
    return {
        "reason": ALERT_SUSTAINED_NEGATIVE,
        "session": session_summary(session),
        "episode": episode.to_json(),
    }


def envelope(event: Event, company_public_id: Any) -> dict[str, Any]:
    """The JSON document a webhook receives (Standard Webhooks' ``type``/``timestamp``/``data``)."""
    return {
        "id": str(event.public_id),
        "type": event.type,
        "version": event.version,
        "timestamp": event.created_at.isoformat(),
        "company": str(company_public_id),
        "data": event.payload,
    }


def endpoint_disabled(endpoint: WebhookEndpoint, reason: str) -> dict[str, Any]:
    """``webhook.disabled`` (e-mailed to the owners, never sent to webhooks): an endpoint kept failing."""
    return {
        "endpoint": {"id": str(endpoint.public_id), "url": endpoint.url, "description": endpoint.description},
        "reason": reason,
        "url": absolute_url(reverse("notifications-webhook", kwargs={"endpoint_id": endpoint.public_id})),
    }


def test_event() -> dict[str, Any]:
    """``webhook.test``: sent on request to one endpoint, to check that it receives and verifies."""
    return {"message": "This is a test event from MoodSaaS. Your endpoint received and can verify it."}
