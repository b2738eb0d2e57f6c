"""Reads shared by the API, the pages, the consumers and the worker. Nothing here writes."""

from __future__ import annotations

import functools
from typing import Any

from django.db.models import QuerySet

from accounts.models import Company, Role, User
from evaluations import grading
from evaluations.models import EvaluationSession, RubricVersion


def visible_sessions(company: Company, role: Role, user: User | None) -> QuerySet[EvaluationSession]:
    """Sessions the caller may see: agents their own, admins, owners and API tokens all of the company."""
    sessions = EvaluationSession.objects.for_company(company)
    if role == Role.AGENT and user is not None:
        sessions = sessions.filter(agent=user)
    return sessions


@functools.lru_cache(maxsize=1024)
def rubric_of(company_id: int, rubric_version_id: int) -> grading.Rubric:
    """The rules of a rubric version, cached per process: versions are immutable."""
    rules = RubricVersion.objects.for_company_id(company_id).values_list("rules", flat=True).get(pk=rubric_version_id)
    return grading.Rubric.from_json(rules)


def running_grade(session: EvaluationSession) -> grading.Grade:
    """The session's grade so far, from its accumulator."""
    rubric = rubric_of(session.company_id, session.rubric_version_id)
    return grading.summarize(grading.GradeState.from_json(session.grade_state), rubric)


def grade_summary(session: EvaluationSession) -> dict[str, Any]:
    """The small grade object pushed with every frame (no timeline)."""
    graded = session.grade_letter not in ("", grading.INSUFFICIENT)
    return {
        "outcome": grading.GRADED if graded else grading.INSUFFICIENT,
        "letter": session.grade_letter if graded else None,
        "score": session.score,
        "confidence": session.confidence,
    }
