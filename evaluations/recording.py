"""The worker side of evaluation sessions: recording analysed frames and video progress.

Per-frame bookkeeping is not written to the audit log: a live session produces several frames a
second and the observations are the data itself. Workers hold ids, not objects: every query here
goes through ``for_company_id`` with the company id the task was given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import F, QuerySet

from accounts.actions import audit
from evaluations import episodes, grading, protocol, signals
from evaluations.actions import SYSTEM, apply_grade, finish_session
from evaluations.analysis import FrameInput
from evaluations.models import Channel, EvaluationSession, FrameOutcome, Observation, SessionFrame, VideoStatus
from evaluations.selectors import grade_summary, rubric_of


@dataclass(frozen=True)
class Recorded:
    """What :func:`record_observations` did with a batch, and the events to push once it committed."""

    stored: list[int]
    duplicates: list[int]
    dropped: int
    events: list[dict[str, Any]] = field(default_factory=list)
    session_public_id: str = ""


def _sessions(company_id: int) -> QuerySet[EvaluationSession]:
    return EvaluationSession.objects.for_company_id(company_id)


def _lock_by_id(company_id: int, session_id: int) -> EvaluationSession | None:
    return (
        _sessions(company_id)
        .select_for_update(of=("self",))
        .select_related("company", "rubric_version")
        .filter(pk=session_id)
        .first()
    )


_FRAME_FIELDS = (
    "public_id", "company_id", "rubric_version_id", "status", "started_at", "grade_state", "grade_letter", "score",
    "confidence", "frames_received", "frames_rejected", "frames_dropped", "frames_processed", "frames_failed",
    "faces_observed", "channel",
)  # fmt: skip


def _relax_commit() -> None:
    """Let this transaction's COMMIT return before the WAL reaches disk (PostgreSQL only).

    Frames arrive several times a second per session and the fsync was the largest part of
    storing one. A database crash can lose the last fraction of a second of committed frames,
    never part of one (the transaction is still atomic); session state changes keep full
    durability because they do not go through here.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _face_json(face: grading.Face, primary: bool) -> dict[str, Any]:
    return {
        "box": list(face.box),
        "score": round(face.score, 4),
        "emotions": {e: round(p, 4) for e, p in zip(grading.EMOTIONS, face.probabilities, strict=True)},
        "dominant": face.dominant,
        "quality": face.quality.flags(),
        "primary": primary,
    }


def _offset(session: EvaluationSession, frame: FrameInput) -> float:
    if frame.offset_seconds is not None:
        return frame.offset_seconds
    return max(0.0, (frame.captured_at - session.started_at).total_seconds())


@transaction.atomic
def record_observations(
    *, company_id: int, session_id: int, frames: Sequence[FrameInput], push_frames: bool = True
) -> Recorded | None:
    """Store one session's analysed (or shed) frames and update its grade; None if the session is gone.

    :func:`record_batch` for one session; ``push_frames`` pushes its events once this commits.
    """
    recorded = record_batch({(company_id, session_id): frames}).get((company_id, session_id))
    if recorded is not None and push_frames:
        protocol.push_events_on_commit({recorded.session_public_id: recorded.events}, company_id)
    return recorded


@transaction.atomic
def record_batch(frames: Mapping[tuple[int, int], Sequence[FrameInput]]) -> dict[tuple[int, int], Recorded]:
    """Store the frames of several sessions, ``(company id, session id) -> frames``, in one transaction.

    Every frame that reaches here gets exactly one outcome in the books, whatever was retried:

    1. Lock the sessions' rows, in (company, id) order so that two workers cannot deadlock: every
       writer of a session's frames holds this lock, so the ledger check below cannot race.
       A session that is gone is left out of the result.
    2. A finished or cancelled session stores nothing; its frames are counted as dropped.
    3. A sequence number already in the ledger is either this very message delivered again (a
       retried or redelivered task: nothing to do, it was counted) or the client sending the
       number again in another message (after a reconnect): counted as rejected, and the
       client is told.
    4. Insert the ledger rows and the observations of all sessions at once; fold usable frames
       into each running grade and, except for videos, into the negative run
       (``evaluations.episodes``). Frames shed unanalysed (stale, lost) get a ``dropped`` row.
    5. Tell listeners about each new negative episode (``signals.negative_episode``), in this
       transaction.
    6. Return each session's events; the caller pushes them once this transaction commits
       (:func:`evaluations.protocol.push_events_on_commit`, one push for a batch).
    """
    _relax_commit()
    by_company: dict[int, list[int]] = {}
    for company_id, session_id in frames:
        by_company.setdefault(company_id, []).append(session_id)
    results: dict[tuple[int, int], Recorded] = {}
    folds: list[_Fold] = []
    for company_id in sorted(by_company):
        ids = sorted(set(by_company[company_id]))
        locked = list(_sessions(company_id).select_for_update().only(*_FRAME_FIELDS).filter(pk__in=ids).order_by("pk"))
        active = [session for session in locked if session.is_active]
        for session in locked:
            if not session.is_active:
                dropped = len(frames[(company_id, session.pk)])
                _sessions(company_id).filter(pk=session.pk).update(frames_dropped=F("frames_dropped") + dropped)
                results[(company_id, session.pk)] = Recorded(
                    stored=[], duplicates=[], dropped=dropped, session_public_id=str(session.public_id)
                )
        wanted = {seq for session in active for seq in (f.sequence for f in frames[(company_id, session.pk)])}
        ledger: dict[tuple[int, int], str] = {
            (session_pk, sequence): message
            for session_pk, sequence, message in SessionFrame.objects.for_company_id(company_id)
            .filter(session_id__in=[session.pk for session in active], sequence__in=list(wanted))
            .values_list("session_id", "sequence", "message")
        }
        for session in active:
            fold = _fold(company_id, session, frames[(company_id, session.pk)], ledger)
            folds.append(fold)
    SessionFrame.objects.bulk_create([row for fold in folds for row in fold.ledger], ignore_conflicts=True)
    Observation.objects.bulk_create([row for fold in folds for row in fold.observations], ignore_conflicts=True)
    changed: dict[int, list[EvaluationSession]] = {}
    for fold in folds:
        if fold.changed:
            changed.setdefault(fold.session.company_id, []).append(fold.session)
    for company_id, sessions in changed.items():
        _sessions(company_id).bulk_update(sessions, _FOLDED_FIELDS)
    for fold in folds:
        for episode in fold.episodes:
            signals.negative_episode.send(sender=EvaluationSession, session=fold.session, episode=episode)
        results[(fold.session.company_id, fold.session.pk)] = fold.recorded()
    return results


_FOLDED_FIELDS = [
    "grade_state", "grade_letter", "score", "confidence", "frames_processed", "frames_failed", "frames_dropped",
    "frames_rejected", "faces_observed",
]  # fmt: skip


@dataclass
class _Fold:
    """One session's frames folded into its row (still to save), ledger rows and observations."""

    session: EvaluationSession
    new: list[FrameInput] = field(default_factory=list)
    repeated: list[FrameInput] = field(default_factory=list)
    ledger: list[SessionFrame] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    episodes: list[episodes.Episode] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    changed: bool = False

    def recorded(self) -> Recorded:
        payloads: list[dict[str, Any]] = []
        if self.changed:
            grade = grade_summary(self.session)
            stats = self.session.stats()
            for kind, event in self.events:
                if kind == "result":
                    payloads.append(protocol.frame_result(**event, grade=grade, stats=stats))
                elif kind == "failed":
                    payloads.append(protocol.frame_failed(**event, grade=grade, stats=stats))
                else:
                    payloads.append(event)
        return Recorded(
            stored=[f.sequence for f in self.new],
            duplicates=[f.sequence for f in self.repeated],
            dropped=0,
            events=payloads,
            session_public_id=str(self.session.public_id),
        )


def _fold(
    company_id: int, session: EvaluationSession, frames: Sequence[FrameInput], ledger: Mapping[tuple[int, int], str]
) -> _Fold:
    """Steps 3 and 4 of :func:`record_batch` for one locked, active session."""
    fold = _Fold(session)
    wanted: dict[int, FrameInput] = {}
    for frame in frames:
        if frame.sequence in wanted:
            fold.repeated.append(frame)
        else:
            wanted[frame.sequence] = frame
    known = {seq: ledger[(session.pk, seq)] for seq in wanted if (session.pk, seq) in ledger}
    fold.new = [f for seq, f in wanted.items() if seq not in known]
    # The same number in another message is the client's repeat; the same message is a redelivery.
    rejected = [f for f in fold.repeated if f.message] + [
        f for seq, f in wanted.items() if seq in known and f.message and f.message != known[seq]
    ]
    fold.repeated += [f for seq, f in wanted.items() if seq in known]

    rubric = rubric_of(company_id, session.rubric_version_id)
    state = grading.GradeState.from_json(session.grade_state)
    run = episodes.NegativeRun.from_json(session.grade_state.get(episodes.STATE_KEY))
    watch = session.channel != Channel.VIDEO  # a video is a recording: the interaction is over
    threshold = episodes.threshold_seconds(company_id) if watch else 0.0
    processed = failed = dropped = faces_total = 0
    for frame in fold.new:
        offset = _offset(session, frame)
        if frame.dropped:
            outcome = FrameOutcome.DROPPED
        else:
            outcome = FrameOutcome.FAILED if frame.error else FrameOutcome.PROCESSED
        fold.ledger.append(
            SessionFrame(
                company_id=company_id,
                session=session,
                sequence=frame.sequence,
                captured_at=frame.captured_at,
                offset_seconds=offset,
                outcome=outcome,
                faces=len(frame.faces),
                error=(frame.error or frame.dropped)[:300],
                message=frame.message,
            )
        )
        if frame.dropped:
            dropped += 1
            extra = {} if frame.age_ms is None else {"age_ms": frame.age_ms}
            fold.events.append(("dropped", protocol.frame_dropped(frame.sequence, frame.dropped, **extra)))
            continue
        if frame.error:
            failed += 1
            fold.events.append(("failed", {"sequence": frame.sequence, "detail": frame.error}))
            continue
        processed += 1
        faces_total += len(frame.faces)
        primary = grading.primary_face_index(frame.faces)
        for index, face in enumerate(frame.faces):
            x, y, w, h = face.box
            fold.observations.append(
                Observation(
                    company_id=company_id,
                    session=session,
                    frame_sequence=frame.sequence,
                    captured_at=frame.captured_at,
                    offset_seconds=offset,
                    face_index=index,
                    is_primary=index == primary,
                    box_x=x,
                    box_y=y,
                    box_w=w,
                    box_h=h,
                    detection_score=face.score,
                    dominant=face.dominant,
                    quality_flags=face.quality.flags(),
                    model_version=frame.model_version,
                    **dict(zip(grading.EMOTIONS, face.probabilities, strict=True)),
                )
            )
        graded = grading.Frame(sequence=frame.sequence, offset_seconds=offset, faces=frame.faces)
        state.add(graded, rubric)
        if watch and (episode := run.add(graded, rubric, threshold)) is not None:
            fold.episodes.append(episode)
        fold.events.append(
            (
                "result",
                {
                    "sequence": frame.sequence,
                    "captured_at": frame.captured_at,
                    "offset_seconds": offset,
                    "model_version": frame.model_version,
                    "faces": [_face_json(face, i == primary) for i, face in enumerate(frame.faces)],
                },
            )
        )
    for frame in rejected:
        detail = f"Frame {frame.sequence} was already received."
        fold.events.append(("rejected", protocol.frame_rejected(frame.sequence, "duplicate", detail)))
    if not (fold.ledger or rejected):
        return fold
    fold.changed = True
    session.grade_state = {**state.to_json(), episodes.STATE_KEY: run.to_json()}
    apply_grade(session, grading.summarize(state, rubric))
    session.frames_processed += processed
    session.frames_failed += failed
    session.frames_dropped += dropped
    session.frames_rejected += len(rejected)
    session.faces_observed += faces_total
    return fold


@transaction.atomic
def settle_lost_frames(*, company_id: int, session_id: int, frames: Sequence[FrameInput]) -> list[int]:
    """Give an outcome to live frames whose result never came (their task was lost with the broker).

    The consumer calls this for frames it queued long enough ago that no worker may still take
    them (``EVALUATIONS_MAX_FRAME_AGE_MS`` and then some). A frame with a ledger row already has
    its outcome (only the event was lost); the others get a ``dropped`` row (reason ``lost``),
    so the task, should it turn up after all, finds its own message's row and changes nothing.
    Returns the sequence numbers counted as lost.
    """
    recorded = record_observations(company_id=company_id, session_id=session_id, frames=frames, push_frames=False)
    if recorded is None:
        return []
    return [event["sequence"] for event in recorded.events if event.get("type") == "frame.dropped"]


def count_live_frames(*, company_id: int, session_id: int, received: int, rejected: int, dropped: int) -> None:
    """Add the websocket consumer's counters (flushed about once a second, and on disconnect)."""
    if not (received or rejected or dropped):
        return
    _sessions(company_id).filter(pk=session_id).update(
        frames_received=F("frames_received") + received,
        frames_rejected=F("frames_rejected") + rejected,
        frames_dropped=F("frames_dropped") + dropped,
    )


# --- Videos ------------------------------------------------------------------------------------


def _video_event(session: EvaluationSession) -> None:
    protocol.broadcast_on_commit(session, protocol.video_progress(session, grade_summary(session)))


@transaction.atomic
def claim_video(*, company_id: int, session_id: int) -> EvaluationSession | None:
    """Claim a queued video for analysis (or re-claim one whose worker died); None if nothing to do."""
    session = _lock_by_id(company_id, session_id)
    if session is None or session.video_status not in (VideoStatus.QUEUED, VideoStatus.PROCESSING):
        return None
    if not session.is_active:
        return None
    session.video_status = VideoStatus.PROCESSING
    session.save(update_fields=["video_status"])
    _video_event(session)
    return session


@transaction.atomic
def record_video_batch(*, company_id: int, session_id: int, frames: Sequence[FrameInput], done: int) -> bool:
    """Store a batch of video frames and the progress; False when the session stopped meanwhile."""
    recorded = record_observations(company_id=company_id, session_id=session_id, frames=frames, push_frames=False)
    if recorded is None or recorded.dropped:
        return False
    session = _lock_by_id(company_id, session_id)
    assert session is not None  # locked above in this transaction
    session.video_frames_done = max(session.video_frames_done, done)
    session.frames_received = session.frames_processed + session.frames_failed
    session.save(update_fields=["video_frames_done", "frames_received"])
    _video_event(session)
    return True


def video_frames_done(*, company_id: int, session_id: int) -> int:
    """How many frames of the session's video are stored (0 if the session is gone)."""
    done = _sessions(company_id).filter(pk=session_id).values_list("video_frames_done", flat=True).first()
    return done or 0


@transaction.atomic
def complete_video(*, company_id: int, session_id: int, error: str = "") -> EvaluationSession | None:
    """Mark the video analysed (then finish the session) or failed with a message for the user."""
    session = _lock_by_id(company_id, session_id)
    if session is None or session.video_status not in (VideoStatus.QUEUED, VideoStatus.PROCESSING):
        return session
    session.video_status = VideoStatus.FAILED if error else VideoStatus.DONE
    session.video_error = error[:300]
    if not error:
        session.video_frames_total = session.video_frames_done  # the estimate becomes the count
    session.save(update_fields=["video_status", "video_error", "video_frames_total"])
    audit(
        SYSTEM,
        session.company,
        "session.video_failed" if error else "session.video_analysed",
        session,
        {"error": error},
    )
    _video_event(session)
    if not error and session.is_active:
        return finish_session(actor=SYSTEM, session=session)
    return session
