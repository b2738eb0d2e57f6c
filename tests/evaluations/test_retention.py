"""Retention: every company's evaluation data is deleted after its own ``retention_days``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import AuditEvent, Company, User
from evaluations import recording, retention
from evaluations.analysis import FrameInput
from evaluations.models import EvaluationSession, Observation, SessionFrame
from evaluations.tasks import purge_expired
from inference.results import Face
from moodsaas.celery import app
from tests.evaluations.conftest import start

pytestmark = pytest.mark.django_db

FACE = Face(box=(10, 10, 80, 80), score=0.9, probabilities=(0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0))


def session_aged(user: User, company: Company, days: int, *, finished: bool = True) -> EvaluationSession:
    """A session with one analysed frame, started (and finished) ``days`` ago."""
    session = start(user, company)
    recording.record_observations(
        company_id=company.pk,
        session_id=session.pk,
        frames=[FrameInput(sequence=1, captured_at=timezone.now(), faces=(FACE,), model_version="m")],
        push_frames=False,
    )
    then = timezone.now() - timedelta(days=days)
    EvaluationSession.objects.for_company(company).filter(pk=session.pk).update(
        started_at=then - timedelta(minutes=5),
        ended_at=then if finished else None,
        status="finished" if finished else "open",
    )
    return session


def exists(session: EvaluationSession) -> bool:
    return EvaluationSession.objects.for_company(session.company).filter(pk=session.pk).exists()


def test_sessions_past_the_companys_retention_are_deleted_with_their_observations(
    bob: User, charlie: User, company_a: Company, company_b: Company
) -> None:
    company_a.retention_days = 30
    company_a.save()
    company_b.retention_days = 365
    company_b.save()
    old_a, recent_a = session_aged(bob, company_a, 40), session_aged(bob, company_a, 10)
    old_b = session_aged(charlie, company_b, 40)  # same age, but company B keeps a year

    assert retention.purge_expired_sessions() == {company_a.slug: 1}

    assert not exists(old_a)
    assert not Observation.objects.for_company(company_a).filter(session_id=old_a.pk).exists()
    assert not SessionFrame.objects.for_company(company_a).filter(session_id=old_a.pk).exists()
    assert exists(recent_a) and Observation.objects.for_company(company_a).filter(session_id=recent_a.pk).exists()
    assert exists(old_b) and Observation.objects.for_company(company_b).filter(session_id=old_b.pk).exists()
    event = AuditEvent.objects.for_company(company_a).get(action="sessions.purged")
    assert event.actor_label == "system"
    assert event.metadata["sessions"] == 1 and event.metadata["retention_days"] == 30
    assert not AuditEvent.objects.for_company(company_b).filter(action="sessions.purged").exists()

    # Running again finds nothing more.
    assert retention.purge_expired_sessions() == {}


def test_an_abandoned_session_counts_from_its_start(bob: User, company_a: Company) -> None:
    company_a.retention_days = 30
    company_a.save()
    abandoned = session_aged(bob, company_a, 45, finished=False)
    assert retention.purge_expired_sessions() == {company_a.slug: 1}
    assert not exists(abandoned)


def test_a_purged_sessions_waiting_video_file_is_deleted_but_not_another_companys(
    bob: User,
    charlie: User,
    company_a: Company,
    company_b: Company,
    tmp_path: Path,
    settings: object,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)  # type: ignore[attr-defined]
    company_a.retention_days = 30
    company_a.save()
    old_a, old_b = session_aged(bob, company_a, 40), session_aged(charlie, company_b, 40)
    files = []
    for session in (old_a, old_b):
        path = (
            EvaluationSession.objects.for_company(session.company)
            .select_related("company")
            .get(pk=session.pk)
            .video_path
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"video")
        files.append(path)

    with django_capture_on_commit_callbacks(execute=True):
        purge_expired()  # the scheduled task

    assert not files[0].exists()
    assert files[1].exists()


def test_celery_beat_runs_the_purge_on_the_default_queue() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["purge-expired-evaluations"]
    schedule = entry["schedule"]
    assert entry["task"] == "evaluations.purge_expired"
    assert isinstance(schedule, float) and schedule <= 24 * 3600
    assert app.amqp.router.route({}, "evaluations.purge_expired")["queue"].name == "default"
