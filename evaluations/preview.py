"""How a proposed grading rubric would grade recent sessions, without regrading anything.

Nothing here writes: the settings page shows an admin what a rubric change would do before they
save it. Finished sessions keep the grade they were given under their own rubric version.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import F

from accounts.models import Company
from evaluations import grading
from evaluations.models import EvaluationSession, Observation, Status
from inference.results import Quality

PREVIEW_SESSIONS = 20

_OBSERVATION_COLUMNS = (
    "session_id", "frame_sequence", "offset_seconds", "box_x", "box_y", "box_w", "box_h", "detection_score",
    "quality_flags", *grading.EMOTIONS,
)  # fmt: skip


@dataclass(frozen=True)
class PreviewRow:
    """One session: the grade it has and the grade the proposed rubric would give it."""

    session: EvaluationSession
    proposed: grading.Grade

    @property
    def current_letter(self) -> str | None:
        letter = self.session.grade_letter
        return None if letter in ("", grading.INSUFFICIENT) else letter

    @property
    def letter_changed(self) -> bool:
        return self.current_letter != self.proposed.letter

    @property
    def score_change(self) -> float | None:
        if self.session.score is None or self.proposed.score is None:
            return None
        return round(self.proposed.score - self.session.score, 2)


@dataclass(frozen=True)
class RubricPreview:
    rows: list[PreviewRow]

    @property
    def current_average(self) -> float | None:
        return _mean([r.session.score for r in self.rows if r.current_letter is not None])

    @property
    def proposed_average(self) -> float | None:
        return _mean([r.proposed.score for r in self.rows if r.proposed.letter is not None])

    @property
    def letters_changed(self) -> int:
        return sum(r.letter_changed for r in self.rows)

    @property
    def insufficient_now(self) -> int:
        return sum(r.current_letter is None for r in self.rows)

    @property
    def insufficient_proposed(self) -> int:
        return sum(r.proposed.letter is None for r in self.rows)


def _mean(values: list[float | None]) -> float | None:
    numbers = [v for v in values if v is not None]
    return round(sum(numbers) / len(numbers), 1) if numbers else None


def preview_rubric(company: Company, rubric: grading.Rubric, limit: int = PREVIEW_SESSIONS) -> RubricPreview:
    """Grade ``company``'s last ``limit`` finished sessions with ``rubric``; change nothing.

    Steps:
    1. The last ``limit`` finished sessions, latest end first (one query).
    2. The primary face of every frame of those sessions (one query): grading only ever reads the
       primary face, so the other faces are not loaded.
    3. Per session, the same fold a live session and ``finish_session`` use
       (``grading.grade_frames``), so an unchanged rubric reproduces the stored grade.

    Frames in which no face was found left no observation; they do not vote under any rubric, so
    only the proposed grade's ``frames`` counter differs from the session's.
    """
    sessions = list(
        EvaluationSession.objects.for_company(company)
        .filter(status=Status.FINISHED)
        .select_related("agent", "rubric_version")
        .order_by(F("ended_at").desc(nulls_last=True), "-id")[:limit]
    )
    frames: dict[int, list[grading.Frame]] = defaultdict(list)
    observations = (
        Observation.objects.for_company(company)
        .filter(session_id__in=[s.pk for s in sessions], is_primary=True)
        .values_list(*_OBSERVATION_COLUMNS)
    )
    for session_id, sequence, offset, x, y, w, h, score, flags, *probabilities in observations:
        face = grading.Face(
            box=(x, y, w, h),
            score=score,
            probabilities=tuple(probabilities),
            quality=Quality.from_flags(flags),
        )
        frames[session_id].append(grading.Frame(sequence=sequence, offset_seconds=offset, faces=(face,)))
    return RubricPreview(
        rows=[PreviewRow(session=s, proposed=grading.grade_frames(frames[s.pk], rubric)) for s in sessions]
    )
