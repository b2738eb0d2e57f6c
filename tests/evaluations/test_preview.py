"""The rubric preview: grading recent finished sessions with a proposed rubric, writing nothing."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta

import pytest

from accounts.models import Actor, Company, Role, User
from evaluations import actions, grading, recording
from evaluations.analysis import FrameInput
from evaluations.models import EvaluationSession
from evaluations.preview import preview_rubric
from inference.results import Face, Quality
from tests.evaluations.conftest import EVALUATION_MODELS, start

pytestmark = pytest.mark.django_db


def face(emotion: str, size: int = 100, flags: tuple[str, ...] = ()) -> Face:
    probabilities = tuple(0.94 if e == emotion else 0.01 for e in grading.EMOTIONS)
    return Face(box=(10, 10, size, size), score=0.95, probabilities=probabilities, quality=Quality.from_flags(flags))


def graded(agent: User, company: Company, emotions: list[str], flags: tuple[str, ...] = ()) -> EvaluationSession:
    """A session finished through the real actions; each frame also shows a smaller angry face."""
    session = start(agent, company)
    frames = [
        FrameInput(
            sequence=i,
            captured_at=session.started_at + timedelta(seconds=2 * i),
            faces=(face(emotion, flags=flags), face("angry", size=40)),
            model_version="test-model",
        )
        for i, emotion in enumerate(emotions)
    ]
    recording.record_observations(company_id=company.pk, session_id=session.pk, frames=frames, push_frames=False)
    return actions.finish_session(actor=Actor(user=agent, role=Role.AGENT), session=session)


def harsher(**changes: object) -> grading.Rubric:
    rules = grading.Rubric.from_json(None).to_json()
    return grading.Rubric.from_json({**rules, **changes})


def test_the_current_rubric_reproduces_every_stored_grade(bob: User, company_a: Company) -> None:
    sessions = [
        graded(bob, company_a, ["happy"] * 8),
        graded(bob, company_a, ["sad"] * 3 + ["neutral"] * 6),
        graded(bob, company_a, ["angry"] * 2),  # too few frames: insufficient evidence
    ]
    preview = preview_rubric(company_a, grading.Rubric.from_json(company_a.grading_rubric))
    by_id = {row.session.pk: row for row in preview.rows}
    for session in sessions:
        row = by_id[session.pk]
        assert row.proposed.letter == row.current_letter
        assert row.proposed.score == session.score
        assert row.proposed.confidence == session.confidence
        assert not row.letter_changed
    assert preview.letters_changed == 0
    assert preview.insufficient_now == preview.insufficient_proposed == 1


def test_a_harsher_rubric_gives_a_known_session_a_lower_score(bob: User, company_a: Company) -> None:
    session = graded(bob, company_a, ["happy"] * 8)
    assert session.score == pytest.approx(95.7)  # 0.94 x 100 + 0.01 x (70 + 55 + 20 + 15 + 10 + 0)
    weights = {**grading.DEFAULT_RUBRIC["weights"], "happy": 40}
    (row,) = preview_rubric(company_a, harsher(weights=weights)).rows
    assert row.proposed.score == pytest.approx(39.3)
    assert row.score_change == pytest.approx(39.3 - 95.7)
    assert row.proposed.letter == "A"  # the votes do not depend on the weights


def test_a_stricter_evidence_rule_turns_a_grade_into_insufficient_evidence(bob: User, company_a: Company) -> None:
    graded(bob, company_a, ["happy"] * 8)
    graded(bob, company_a, ["neutral"] * 8, flags=("too_dark",))  # excluded by default: insufficient now
    preview = preview_rubric(company_a, harsher(min_usable_frames=10, exclude_flags=[]))
    assert [row.proposed.letter for row in preview.rows] == [None, None]
    assert [row.current_letter for row in preview.rows] == [None, "A"]
    lenient = preview_rubric(company_a, harsher(exclude_flags=[]))
    assert [row.proposed.letter for row in lenient.rows] == ["B", "A"]


def test_a_preview_writes_nothing(
    bob: User, company_a: Company, nothing_written: Callable[..., AbstractContextManager[None]]
) -> None:
    graded(bob, company_a, ["happy"] * 8)
    with nothing_written(*EVALUATION_MODELS):
        preview_rubric(company_a, harsher(weights={**grading.DEFAULT_RUBRIC["weights"], "happy": 0}))


def test_only_the_last_finished_sessions_of_the_company_are_graded(
    bob: User, charlie: User, company_a: Company, company_b: Company
) -> None:
    finished = [graded(bob, company_a, ["happy"] * 5) for _ in range(4)]
    start(bob, company_a)  # open
    actions.cancel_session(actor=Actor(user=bob, role=Role.AGENT), session=start(bob, company_a))
    graded(charlie, company_b, ["happy"] * 5)
    preview = preview_rubric(company_a, grading.Rubric.from_json(None), limit=3)
    assert [row.session.pk for row in preview.rows] == [s.pk for s in reversed(finished)][:3]


def test_the_preview_takes_two_queries_whatever_the_number_of_sessions(
    bob: User, company_a: Company, django_assert_num_queries: Callable[[int], AbstractContextManager[None]]
) -> None:
    graded(bob, company_a, ["happy"] * 5)
    with django_assert_num_queries(2):  # the sessions, then every primary face of them
        one = preview_rubric(company_a, grading.Rubric.from_json(None))
    for _ in range(3):
        graded(bob, company_a, ["sad"] * 6)
    with django_assert_num_queries(2):
        four = preview_rubric(company_a, grading.Rubric.from_json(None))
    assert (len(one.rows), len(four.rows)) == (1, 4)
