"""Reads shared by the API, the pages, the consumers and the worker. Nothing here writes."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from accounts.models import Company, Membership, Role, User
from evaluations import grading
from evaluations.models import ConsentReceipt, EvaluationSession, Observation, RubricVersion, StoredFrame


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


@dataclass(frozen=True)
class SessionFilter:
    """Criteria of a session list, shared by the REST API, the history page and its CSV export."""

    agent: uuid.UUID | None = None  # member id
    status: str | None = None
    grade: str | None = None
    channel: str | None = None
    customer_reference: str | None = None
    started_after: datetime | None = None  # inclusive
    started_before: datetime | None = None  # exclusive

    def apply(self, sessions: QuerySet[EvaluationSession], company: Company) -> QuerySet[EvaluationSession]:
        if self.agent is not None:
            members = Membership.objects.for_company(company).filter(public_id=self.agent)
            sessions = sessions.filter(agent__in=members.values("user"))
        if self.status:
            sessions = sessions.filter(status=self.status)
        if self.grade:
            sessions = sessions.filter(grade_letter=self.grade)
        if self.channel:
            sessions = sessions.filter(channel=self.channel)
        if self.customer_reference:
            sessions = sessions.filter(customer_reference__iexact=self.customer_reference.strip())
        if self.started_after is not None:
            sessions = sessions.filter(started_at__gte=self.started_after)
        if self.started_before is not None:
            sessions = sessions.filter(started_at__lt=self.started_before)
        return sessions


def model_versions(session: EvaluationSession) -> str:
    """The emotion model version(s) that read this session's faces, comma-separated."""
    versions = (
        Observation.objects.for_company_id(session.company_id)
        .filter(session_id=session.pk)
        .values_list("model_version", flat=True)
        # Without order_by() the model's ordering columns join the DISTINCT: one version per face.
        .order_by("model_version")
        .distinct()[:3]
    )
    return ", ".join(versions)


def consent_receipt(session: EvaluationSession) -> ConsentReceipt | None:
    """The session's consent receipt (live sessions have one), or None."""
    return ConsentReceipt.objects.for_company_id(session.company_id).filter(session_id=session.pk).first()


def stored_frames(session: EvaluationSession) -> QuerySet[StoredFrame]:
    """The frames kept of a session, in frame order (the caller has checked it may see the session)."""
    return StoredFrame.objects.for_company_id(session.company_id).filter(session_id=session.pk).order_by("sequence")


def primary_emotions(session: EvaluationSession, sequences: list[int]) -> dict[int, str]:
    """The dominant emotion of the primary face of each of these frames (frames without a face left out)."""
    return dict(
        Observation.objects.for_company_id(session.company_id)
        .filter(session_id=session.pk, frame_sequence__in=sequences, is_primary=True)
        .values_list("frame_sequence", "dominant")
    )


def stored_frame_count(company: Company) -> int:
    """How many frames the company keeps now."""
    return StoredFrame.objects.for_company(company).count()
