"""``python -m benchmarks.scale_data`` with tiny numbers: exact counts, and grades that agree with the observations."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Company, Membership, Role
from benchmarks.scale_data import ScaleDataError, run
from evaluations import grading
from evaluations.models import EvaluationSession, Observation, SessionFrame, Status
from inference import registry
from inference.results import Face, Quality

OPTIONS = {"company": "scale-tiny", "sessions": 50, "observations": 500, "days": 95, "agents": 4, "seed": 7}


def _run(**overrides: object) -> str:
    out = io.StringIO()
    run({**OPTIONS, "replace": False, **overrides}, out=out)
    return out.getvalue()


def _regrade(observations: list[Observation], rubric: grading.Rubric) -> grading.Grade:
    state = grading.GradeState()
    for o in observations:
        x, y, w, h = o.box
        face = Face((x, y, w, h), o.detection_score, o.probabilities, Quality.from_flags(o.quality_flags))
        state.add(grading.Frame(o.frame_sequence, o.offset_seconds, (face,)), rubric)
    return grading.summarize(state, rubric)


def test_it_creates_exactly_the_sessions_and_observations_asked_for(db) -> None:
    output = _run()
    company = Company.objects.get(slug="scale-tiny")
    assert "50 finished sessions" in output and "500 observations" in output
    assert company.time_zone == "Europe/Madrid"
    assert Membership.objects.for_company(company).filter(role=Role.AGENT).count() == 4
    sessions = EvaluationSession.objects.for_company(company)
    assert sessions.count() == sessions.filter(status=Status.FINISHED).count() == 50
    assert Observation.objects.for_company(company).count() == 500
    assert SessionFrame.objects.for_company(company).count() == 500
    now = timezone.now()
    for started, created, ended in sessions.values_list("started_at", "created_at", "ended_at"):
        assert now - timedelta(days=96) < started < now
        assert created == started and ended is not None and ended > started
    assert {*Observation.objects.for_company(company).values_list("model_version", flat=True)} == {
        registry.active_version()
    }


def test_every_grade_column_agrees_with_the_sessions_observations(db) -> None:
    _run()
    company = Company.objects.get(slug="scale-tiny")
    sessions = list(EvaluationSession.objects.for_company(company).select_related("rubric_version"))
    by_session: dict[int, list[Observation]] = {}
    for o in Observation.objects.for_company(company).order_by("session_id", "frame_sequence"):
        by_session.setdefault(o.session_id, []).append(o)
    for session in sessions:
        observations = by_session[session.pk]
        assert session.frames_processed == session.faces_observed == len(observations)
        assert session.frames_received == session.frames_processed + session.frames_dropped
        grade = _regrade(observations, session.rubric_version.rubric)
        assert session.grade_letter == (grade.letter or grading.INSUFFICIENT)
        assert session.score == grade.score
        assert session.confidence == grade.confidence
        assert session.final_grade is not None
        assert session.final_grade["letter"] == grade.letter
        moved = grading.trajectory(grade.timeline) if grade.letter else None
        assert session.trajectory == (moved.kind if moved else "")
        assert session.csat is None or session.grade_letter in grading.LETTERS
    assert any(s.csat is not None for s in sessions)
    assert {s.grade_letter for s in sessions} >= {"A", "B"}


def test_a_second_run_is_refused_unless_it_replaces_the_companys_sessions(db) -> None:
    _run()
    with pytest.raises(ScaleDataError, match="--replace"):
        _run()
    _run(replace=True, sessions=20, observations=300)
    company = Company.objects.get(slug="scale-tiny")
    assert EvaluationSession.objects.for_company(company).count() == 20
    assert Observation.objects.for_company(company).count() == 300
    assert SessionFrame.objects.for_company(company).count() == 300


def test_it_refuses_fewer_observations_than_the_rubric_needs(db) -> None:
    with pytest.raises(ScaleDataError, match="at least 5 per session"):
        _run(observations=100)
