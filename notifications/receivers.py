"""Turn what evaluations reports (``evaluations.signals``) into outbox events.

Receivers run inside the sender's transaction: the event row commits with the finished session
or the recorded frames, or not at all. Keys make them idempotent: a session finishes once, an
episode is keyed by its start.
"""

from __future__ import annotations

from typing import Any

from accounts.models import Company
from evaluations import episodes, signals
from evaluations.episodes import Episode
from evaluations.models import EvaluationSession
from notifications import outbox, payloads, retention
from notifications.models import EventType


def connect() -> None:
    """Connect the receivers (``NotificationsConfig.ready``); safe to call twice."""
    signals.session_finished.connect(on_session_finished, dispatch_uid="notifications.session_finished")
    signals.negative_episode.connect(on_negative_episode, dispatch_uid="notifications.negative_episode")
    signals.sessions_deleted.connect(on_sessions_deleted, dispatch_uid="notifications.sessions_deleted")
    if company_threshold not in episodes.THRESHOLD_SOURCES:
        episodes.THRESHOLD_SOURCES.append(company_threshold)


def company_threshold(company_id: int) -> float | None:
    """The company's own sustained-negative alert threshold (None: the settings default)."""
    from notifications.models import CompanySettings

    return CompanySettings.objects.for_company_id(company_id).values_list("negative_alert_seconds", flat=True).first()


def _reloaded(session: EvaluationSession) -> EvaluationSession:
    # The worker holds a row with only the columns it needs; describe the session from all of them.
    return (
        EvaluationSession.objects.for_company_id(session.company_id)
        .select_related("company", "agent")
        .get(pk=session.pk)
    )


def on_session_finished(sender: Any, session: EvaluationSession, **_: Any) -> None:
    """``session.finished`` for every finished session; ``alert.raised`` when it got D or F."""
    outbox.record_event(
        company=session.company,
        key=f"session.finished:{session.public_id}",
        type=EventType.SESSION_FINISHED,
        payload=payloads.session_finished(session),
        session_public_id=session.public_id,
        agent_id=session.agent_id,
    )
    if session.grade_letter in payloads.ALERT_LETTERS:
        outbox.record_event(
            company=session.company,
            key=f"alert.raised:{session.public_id}:grade",
            type=EventType.ALERT_RAISED,
            payload=payloads.grade_alert(session),
            session_public_id=session.public_id,
            agent_id=session.agent_id,
        )


def on_negative_episode(sender: Any, session: EvaluationSession, episode: Episode, **_: Any) -> None:
    """``alert.raised`` once per sustained negative episode of a running session."""
    full = _reloaded(session)
    outbox.record_event(
        company=full.company,
        key=f"alert.raised:{full.public_id}:{episode.start_seconds:.3f}",
        type=EventType.ALERT_RAISED,
        payload=payloads.episode_alert(full, episode),
        session_public_id=full.public_id,
        agent_id=full.agent_id,
    )


def on_sessions_deleted(
    sender: Any, company: Company, session_public_ids: list[str], customer_reference: str = "", **_: Any
) -> None:
    """Sessions deleted on request: their events go too (``retention.forget_sessions``)."""
    retention.forget_sessions(
        company=company, session_public_ids=session_public_ids, customer_reference=customer_reference
    )
