"""The events outbox: produced by evaluations' actions on commit, each stored once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.db import transaction

from accounts.models import Company, User
from evaluations.models import Channel, EvaluationSession
from notifications import outbox
from notifications.models import Event, EventType
from tests.notifications.conftest import events, feed, finish, frames, set_threshold, start

pytestmark = pytest.mark.django_db


def test_finishing_a_session_records_one_session_finished_event(
    bob_session: EvaluationSession, company_a: Company, bob: User
) -> None:
    feed(bob_session, frames("happy", seconds=5))
    finish(bob_session)
    (event,) = events(company_a)
    assert event.type == EventType.SESSION_FINISHED
    assert event.key == f"session.finished:{bob_session.public_id}"
    assert event.version == 1
    assert event.session_public_id == bob_session.public_id
    assert event.agent_id == bob.pk
    session = event.payload["session"]
    assert session["id"] == str(bob_session.public_id)
    assert session["status"] == "finished"
    assert session["agent"] == {"email": "bob@a.test", "name": bob.get_full_name()}
    assert session["grade"]["letter"] == "A"
    assert session["grade"]["outcome"] == "graded"
    assert session["grade"]["usable_frames"] == 11
    assert session["url"].endswith(f"/app/sessions/{bob_session.public_id}/")


@pytest.mark.parametrize("emotion", ["fear", "angry"])
def test_a_session_finishing_with_d_or_f_also_raises_an_alert(
    bob_session: EvaluationSession, company_a: Company, emotion: str
) -> None:
    set_threshold(company_a, 600)  # no live episode: this is about the final grade
    feed(bob_session, frames(emotion, seconds=5))
    finish(bob_session)
    (alert,) = events(company_a, EventType.ALERT_RAISED)
    assert alert.key == f"alert.raised:{bob_session.public_id}:grade"
    assert alert.payload["reason"] == "grade"
    assert alert.payload["episode"] is None
    assert alert.payload["session"]["grade"]["letter"] in ("D", "F")


def test_a_session_with_a_better_grade_raises_no_alert(bob_session: EvaluationSession, company_a: Company) -> None:
    feed(bob_session, frames("sad", seconds=5))
    finish(bob_session)
    assert [e.type for e in events(company_a)] == [EventType.SESSION_FINISHED]


def test_finishing_twice_records_nothing_more(bob_session: EvaluationSession, company_a: Company) -> None:
    feed(bob_session, frames("angry", seconds=3))
    finish(bob_session)
    finish(bob_session)
    assert len(events(company_a)) == 2  # session.finished and the grade alert, once each


def test_an_event_rolls_back_with_the_change_it_reports(bob_session: EvaluationSession, company_a: Company) -> None:
    def finish_then_fail() -> None:
        with transaction.atomic():
            finish(bob_session)
            assert len(events(company_a)) == 1
            raise RuntimeError("the finishing transaction fails after the action")

    with pytest.raises(RuntimeError):
        finish_then_fail()
    assert events(company_a) == []


def test_a_new_event_is_dispatched_on_commit_and_a_known_key_not_at_all(
    company_a: Company, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        first = outbox.record_event(company=company_a, key="digest.weekly:x", type=EventType.DIGEST, payload={})
        again = outbox.record_event(company=company_a, key="digest.weekly:x", type=EventType.DIGEST, payload={"n": 1})
    assert first is not None and again is None
    assert len(callbacks) == 1
    assert Event.objects.for_company(company_a).get().payload == {}


def test_a_live_session_with_sustained_negative_frames_raises_exactly_one_alert(
    bob_session: EvaluationSession, company_a: Company
) -> None:
    feed(bob_session, frames("happy", seconds=4))
    batch = frames("fear", start=5, seconds=30, first=100)
    feed(bob_session, batch)
    feed(bob_session, batch[10:30])  # a retried task: already in the ledger
    (alert,) = events(company_a, EventType.ALERT_RAISED)
    assert alert.key == f"alert.raised:{bob_session.public_id}:5.000"
    assert alert.payload["reason"] == "sustained_negative"
    assert alert.payload["episode"] == {
        "start_seconds": 5.0,
        "end_seconds": 25.0,
        "duration_seconds": 20.0,
        "threshold_seconds": 20.0,
        "frames": 41,
        "emotions": {"fear": 41},
    }
    assert alert.payload["session"]["status"] == "open"
    assert alert.payload["session"]["agent"]["email"] == "bob@a.test"


def test_each_episode_of_a_session_raises_its_own_alert(bob_session: EvaluationSession, company_a: Company) -> None:
    feed(bob_session, frames("angry", seconds=25))
    feed(bob_session, frames("happy", start=26, seconds=5, first=100))
    feed(bob_session, frames("disgust", start=32, seconds=25, first=200))
    assert [e.key.rsplit(":", 1)[1] for e in events(company_a, EventType.ALERT_RAISED)] == ["0.000", "32.000"]


def test_the_company_threshold_replaces_the_default(bob_session: EvaluationSession, company_a: Company) -> None:
    set_threshold(company_a, 5)
    feed(bob_session, frames("fear", seconds=6))
    (alert,) = events(company_a, EventType.ALERT_RAISED)
    assert alert.payload["episode"]["end_seconds"] == 5.0
    assert alert.payload["episode"]["threshold_seconds"] == 5.0


def test_a_video_raises_no_live_alert(bob: User, company_a: Company) -> None:
    session = start(bob, company_a, Channel.VIDEO)
    feed(session, frames("fear", seconds=30))
    assert events(company_a, EventType.ALERT_RAISED) == []


def test_a_short_negative_stretch_raises_nothing(bob_session: EvaluationSession, company_a: Company) -> None:
    feed(bob_session, frames("fear", seconds=15))
    assert events(company_a) == []


def test_evaluations_never_imports_notifications() -> None:
    """The dependency goes one way: notifications listens to evaluations' signals."""
    root = Path(__file__).resolve().parents[2] / "evaluations"
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "notifications"]
    assert offenders == []
