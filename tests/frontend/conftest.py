"""Finished sessions with known grades, for the portal's pages and figures."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Company, User
from evaluations import actions, grading
from evaluations.models import EvaluationSession, Status
from tests.evaluations.conftest import start


def finished(
    company: Company,
    agent: User | None,
    letter: str,
    score: float | None,
    *,
    started: datetime | None = None,
    csat: int | None = None,
    trajectory: str = "",
    customer_reference: str = "",
    timeline: list[dict[str, Any]] | None = None,
) -> EvaluationSession:
    """A finished session as finish_session leaves it (grade columns and the frozen grade)."""
    started = started or timezone.now() - timedelta(hours=1)
    rubric = actions.current_rubric_version(company)
    graded = letter != grading.INSUFFICIENT
    timeline = timeline or [
        {"start_seconds": 0, "end_seconds": 10, "frames": 10, "score": score or 0, "letter": letter if graded else None,
         "emotion_counts": dict.fromkeys(grading.EMOTIONS, 0) | {"happy": 10}},
    ]  # fmt: skip
    return EvaluationSession.objects.create(
        company=company,
        agent=agent,
        rubric_version=rubric,
        started_at=started,
        ended_at=started + timedelta(minutes=5),
        status=Status.FINISHED,
        grade_letter=letter,
        score=score,
        confidence=0.8 if graded else 0.0,
        trajectory=trajectory,
        customer_reference=customer_reference,
        csat=csat,
        frames_received=12,
        frames_processed=10,
        frames_dropped=2,
        final_grade={
            "outcome": grading.GRADED if graded else grading.INSUFFICIENT,
            "letter": letter if graded else None,
            "score": score,
            "confidence": 0.8 if graded else 0.0,
            "frames": 10,
            "usable_frames": 10 if graded else 2,
            "emotion_counts": dict.fromkeys(grading.EMOTIONS, 0) | {"happy": 10},
            "emotion_shares": dict.fromkeys(grading.EMOTIONS, 0.0) | {"happy": 1.0},
            "group_counts": dict.fromkeys(grading.LETTERS, 0) | ({letter: 10} if graded else {}),
            "timeline": timeline,
            "rubric_version": rubric.version,
            "trajectory": None,
        },
    )


@pytest.fixture
def bob_session(bob: User, company_a: Company) -> EvaluationSession:
    return start(bob, company_a)


def page_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice_page(alice: User) -> Client:
    return page_client(alice)


@pytest.fixture
def bob_page(bob: User) -> Client:
    return page_client(bob)


@pytest.fixture
def charlie_page(charlie: User) -> Client:
    return page_client(charlie)
