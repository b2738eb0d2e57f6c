"""Notification tests: sessions fed with synthetic analysed frames through the worker's path.

``frames("fear", start=0, seconds=25)`` builds what the inference step hands to
``evaluations.recording.record_observations``: one clear, large face per frame whose dominant
emotion is the one asked for. ``feed(session, frames)`` records them exactly as a worker would.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Actor, Company, Role, User
from evaluations import actions, episodes, recording
from evaluations.analysis import FrameInput
from evaluations.grading import EMOTIONS
from evaluations.models import Channel, EvaluationSession
from inference.results import Face, Quality
from notifications.models import CompanySettings, Event


def face(emotion: str, *, score: float = 0.95, quality: Quality | None = None) -> Face:
    probabilities = [0.02] * len(EMOTIONS)
    probabilities[EMOTIONS.index(emotion)] = 0.88
    return Face(box=(40, 40, 160, 160), score=score, probabilities=tuple(probabilities), quality=quality or Quality())


def frames(
    emotion: str, *, start: float = 0.0, seconds: float = 10.0, fps: float = 2.0, first: int = 0, **face_args: Any
) -> list[FrameInput]:
    """Frames from ``start`` for ``seconds`` (inclusive) at ``fps``, sequence numbers from ``first``."""
    count = round(seconds * fps) + 1
    now = timezone.now()
    return [
        FrameInput(
            sequence=first + i,
            captured_at=now + timedelta(seconds=start + i / fps),
            faces=(face(emotion, **face_args),),
            model_version="synthetic",
            offset_seconds=start + i / fps,
        )
        for i in range(count)
    ]


def feed(session: EvaluationSession, batch: Sequence[FrameInput]) -> None:
    """Record ``batch`` as the worker does (one frame per call, like live frames)."""
    for frame in batch:
        recording.record_observations(company_id=session.company_id, session_id=session.pk, frames=[frame])


def start(user: User, company: Company, channel: str = Channel.LIVE) -> EvaluationSession:
    return actions.start_session(actor=Actor(user=user, role=Role.AGENT), company=company, agent=user, channel=channel)


def finish(session: EvaluationSession) -> EvaluationSession:
    return actions.finish_session(actor=actions.SYSTEM, session=session)


def events(company: Company, type: str | None = None) -> list[Event]:
    found = Event.objects.for_company(company).order_by("created_at", "id")
    return list(found.filter(type=type) if type else found)


@pytest.fixture(autouse=True)
def _fresh_thresholds() -> Iterator[None]:
    """The per-process threshold cache must not carry a company setting from one test to the next."""
    episodes.forget_threshold()
    yield
    episodes.forget_threshold()


@pytest.fixture
def bob_session(bob: User, company_a: Company) -> EvaluationSession:
    return start(bob, company_a)


def set_threshold(company: Company, seconds: int) -> None:
    CompanySettings.objects.for_company(company).update_or_create(
        company=company, defaults={"negative_alert_seconds": seconds}
    )
    episodes.forget_threshold(company.pk)
