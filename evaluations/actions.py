"""Every state change of evaluation sessions: atomic, audited, fan-out only on commit.

Per-frame bookkeeping (``record_observations``, ``count_live_frames``, video progress) is not
written to the audit log: a live session produces several frames a second and the observations
are the data itself. The actions that change what a session *is* (start, pause, resume, finish,
cancel, uploads) are audited.
"""

from __future__ import annotations

import base64
import functools
import logging
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.actions import audit
from accounts.exceptions import ActionConflict, ActionError, ActionForbidden
from accounts.models import Actor, Company, Membership, Role, User
from evaluations import grading
from evaluations.models import (
    Channel,
    EvaluationSession,
    FrameOutcome,
    Observation,
    RubricVersion,
    SessionFrame,
    Status,
    VideoStatus,
    company_group,
    session_group,
)
from evaluations.realtime import push

log = logging.getLogger(__name__)

SYSTEM = Actor()


# --- Reading helpers ---------------------------------------------------------------------------


def visible_sessions(company: Company, role: Role, user: User | None) -> QuerySet[EvaluationSession]:
    """Sessions the caller may see: agents their own, admins, owners and API tokens all of the company."""
    sessions = EvaluationSession.objects.for_company(company)
    if role == Role.AGENT and user is not None:
        sessions = sessions.filter(agent=user)
    return sessions


@functools.lru_cache(maxsize=1024)
def rubric_of(rubric_version_id: int) -> grading.Rubric:
    """The rules of a rubric version, cached per process: versions are immutable."""
    rules = RubricVersion.unscoped_objects.values_list("rules", flat=True).get(pk=rubric_version_id)
    return grading.Rubric.from_json(rules)


@functools.lru_cache(maxsize=4096)
def company_public_id(company_id: int) -> uuid.UUID:
    """A company's public id, cached per process: it never changes (``editable=False``)."""
    return Company.objects.values_list("public_id", flat=True).get(pk=company_id)


def running_grade(session: EvaluationSession) -> grading.Grade:
    """The session's grade so far, from its accumulator."""
    return grading.summarize(grading.GradeState.from_json(session.grade_state), rubric_of(session.rubric_version_id))


def grade_summary(session: EvaluationSession) -> dict[str, Any]:
    """The small grade object pushed with every frame (no timeline)."""
    return {
        "outcome": grading.GRADED if session.grade_letter not in ("", grading.INSUFFICIENT) else grading.INSUFFICIENT,
        "letter": session.grade_letter if session.grade_letter not in ("", grading.INSUFFICIENT) else None,
        "score": session.score,
        "confidence": session.confidence,
    }


def _groups(session: EvaluationSession) -> list[str]:
    return [session_group(session.public_id), company_group(company_public_id(session.company_id))]


def _event(session: EvaluationSession, payload: dict[str, Any]) -> None:
    """Queue ``payload`` for the session's and the company's groups once the transaction commits."""
    message = {"type": "session.event", "payload": {"session": str(session.public_id), **payload}}
    groups = _groups(session)
    transaction.on_commit(lambda: push(groups, message))


# --- Rubric versions ---------------------------------------------------------------------------


def current_rubric_version(company: Company) -> RubricVersion:
    """Return the version of ``company``'s current rubric, creating it when the rules changed."""
    try:
        rubric = grading.Rubric.from_json(company.grading_rubric)
    except grading.RubricError as exc:
        raise ActionError(f"The company's grading rubric is invalid: {exc}", code="invalid_rubric") from None
    fingerprint = rubric.fingerprint()
    versions = RubricVersion.objects.for_company(company)
    existing = versions.filter(fingerprint=fingerprint).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        # Serialise version numbering per company: two sessions may start right after a change.
        Company.objects.select_for_update().filter(pk=company.pk).first()
        existing = versions.filter(fingerprint=fingerprint).first()
        if existing is not None:
            return existing
        number = (versions.aggregate(n=Max("version"))["n"] or 0) + 1
        return RubricVersion.objects.create(
            company=company, version=number, fingerprint=fingerprint, rules=rubric.to_json()
        )


# --- Session life cycle ------------------------------------------------------------------------


def _require_runner(actor: Actor, session: EvaluationSession, what: str) -> None:
    """Admins, owners, read-write tokens and the system run any session; agents only their own."""
    if actor.role is None or actor.role.at_least(Role.ADMIN):
        return
    if actor.user is not None and actor.user.pk == session.agent_id:
        return
    raise ActionForbidden(f"Only the session's agent or an admin can {what}.", code="role")


def _lock(session: EvaluationSession) -> EvaluationSession:
    return (
        EvaluationSession.objects.for_company(session.company)
        .select_for_update(of=("self",))
        .select_related("company", "rubric_version")
        .get(pk=session.pk)
    )


@transaction.atomic
def start_session(
    *,
    actor: Actor,
    company: Company,
    agent: User,
    channel: str = Channel.LIVE,
    customer_reference: str = "",
    notice_shown: bool = False,
) -> EvaluationSession:
    """Open a session for ``agent`` (agents may only start their own) under the current rubric.

    ``notice_shown`` records in the audit trail that the company's camera notice was shown
    before the camera started (the agent page asks for it).
    """
    is_agent = actor.role is not None and not actor.role.at_least(Role.ADMIN)
    if is_agent and (actor.user is None or actor.user.pk != agent.pk):
        raise ActionForbidden("Agents can only start sessions for themselves.", code="role")
    if not Membership.objects.for_company(company).filter(user=agent).exists():
        raise ActionError(f"{agent.email} is not a member of {company.name}.", code="agent")
    if channel not in Channel.values:
        raise ActionError(f"Unknown channel {channel!r}.", code="channel")
    session = EvaluationSession.objects.create(
        company=company,
        agent=agent,
        channel=channel,
        customer_reference=customer_reference.strip(),
        rubric_version=current_rubric_version(company),
        started_at=timezone.now(),
    )
    audit(
        actor,
        company,
        "session.started",
        session,
        {
            "agent": agent.email,
            "channel": channel,
            "rubric_version": session.rubric_version.version,
            "notice_shown": notice_shown,
        },
    )
    _event(session, {"type": "session.status", "status": session.status, "agent": agent.email})
    return session


@transaction.atomic
def pause_session(*, actor: Actor, session: EvaluationSession) -> EvaluationSession:
    """Stop recording: frames sent while paused are refused. Pausing a paused session is a no-op."""
    _require_runner(actor, session, "pause it")
    locked = _lock(session)
    if locked.status == Status.PAUSED:
        return locked
    if not locked.is_open:
        raise ActionConflict(f"Only an open session can be paused; this one is {locked.status}.", code="not_open")
    locked.status = Status.PAUSED
    locked.paused_at = timezone.now()
    locked.save(update_fields=["status", "paused_at"])
    audit(actor, locked.company, "session.paused", locked, locked.stats())
    _event(locked, {"type": "session.status", "status": locked.status})
    return locked


@transaction.atomic
def resume_session(*, actor: Actor, session: EvaluationSession) -> EvaluationSession:
    """Start recording again. Resuming an open session is a no-op."""
    _require_runner(actor, session, "resume it")
    locked = _lock(session)
    if locked.is_open:
        return locked
    if locked.status != Status.PAUSED:
        raise ActionConflict(f"Only a paused session can be resumed; this one is {locked.status}.", code="not_paused")
    locked.status = Status.OPEN
    locked.paused_at = None
    locked.save(update_fields=["status", "paused_at"])
    audit(actor, locked.company, "session.resumed", locked, {})
    _event(locked, {"type": "session.status", "status": locked.status})
    return locked


def final_grade_snapshot(session: EvaluationSession, now: datetime) -> dict[str, Any]:
    """The frozen grade of a finished session: the grade, its rubric version and the counters."""
    grade = running_grade(session)
    return {
        **grade.to_json(),
        "rubric_version": session.rubric_version.version,
        "rubric": session.rubric_version.rules,
        "stats": session.stats(),
        "graded_at": now.isoformat(),
    }


def _apply_grade(session: EvaluationSession, grade: grading.Grade) -> None:
    session.grade_letter = grade.letter or grading.INSUFFICIENT
    session.score = grade.score
    session.confidence = grade.confidence


@transaction.atomic
def finish_session(*, actor: Actor, session: EvaluationSession) -> EvaluationSession:
    """Close the session and freeze its grade. Finishing a finished session is a no-op."""
    _require_runner(actor, session, "finish it")
    locked = _lock(session)
    if locked.status == Status.FINISHED:
        return locked
    if locked.status == Status.CANCELLED:
        raise ActionConflict("A cancelled session cannot be finished.", code="cancelled")
    now = timezone.now()
    locked.final_grade = final_grade_snapshot(locked, now)
    _apply_grade(locked, running_grade(locked))
    locked.status = Status.FINISHED
    locked.ended_at = now
    locked.paused_at = None
    locked.save(update_fields=["final_grade", "grade_letter", "score", "confidence", "status", "ended_at", "paused_at"])
    audit(
        actor,
        locked.company,
        "session.finished",
        locked,
        {"grade": locked.grade_letter, "score": locked.score, **locked.stats()},
    )
    _event(locked, {"type": "session.status", "status": locked.status, "grade": locked.final_grade})
    return locked


@transaction.atomic
def cancel_session(*, actor: Actor, session: EvaluationSession) -> EvaluationSession:
    """Abandon the session without a grade. Cancelling a cancelled session is a no-op."""
    _require_runner(actor, session, "cancel it")
    locked = _lock(session)
    if locked.status == Status.CANCELLED:
        return locked
    if locked.status == Status.FINISHED:
        raise ActionConflict("A finished session cannot be cancelled.", code="finished")
    locked.status = Status.CANCELLED
    locked.ended_at = timezone.now()
    locked.paused_at = None
    locked.save(update_fields=["status", "ended_at", "paused_at"])
    audit(actor, locked.company, "session.cancelled", locked, locked.stats())
    _event(locked, {"type": "session.status", "status": locked.status})
    return locked


# --- Uploads -----------------------------------------------------------------------------------


@transaction.atomic
def add_images(*, actor: Actor, session: EvaluationSession, images: Sequence[bytes]) -> list[int]:
    """Queue already validated images of an open session for analysis; return their sequence numbers.

    Images get consecutive server-assigned sequence numbers; each is analysed by the same task
    as a live frame, so its result is pushed and stored the same way.
    """
    _require_runner(actor, session, "add images")
    locked = _lock(session)
    if locked.channel not in (Channel.IMAGES, Channel.API):
        raise ActionConflict(
            f"Images can be added to image-upload or API sessions; this one is {locked.channel}.", code="channel"
        )
    if not locked.is_open:
        raise ActionConflict(
            f"Images can only be added to an open session; this one is {locked.status}.", code="not_open"
        )
    if not images:
        raise ActionError("Send at least one image.", code="no_images")
    first = locked.next_sequence
    sequences = list(range(first, first + len(images)))
    locked.next_sequence = first + len(images)
    locked.frames_received += len(images)
    locked.save(update_fields=["next_sequence", "frames_received"])
    audit(
        actor,
        locked.company,
        "session.images_added",
        locked,
        {"count": len(images), "sequences": [first, sequences[-1]]},
    )
    now = timezone.now().timestamp()
    payloads = [base64.b64encode(image).decode("ascii") for image in images]
    company_id, session_id = locked.company_id, locked.pk

    def enqueue() -> None:
        from evaluations.tasks import analyse_frame

        for sequence, payload in zip(sequences, payloads, strict=True):
            analyse_frame.delay(company_id, session_id, sequence, now, payload, False)

    transaction.on_commit(enqueue)
    return sequences


def video_path(session: EvaluationSession) -> Path:
    """Where an uploaded video waits for analysis; derived from server-side ids only."""
    return _video_file(session.company.public_id, session.public_id)


def _video_file(company_public_id: uuid.UUID, session_public_id: uuid.UUID) -> Path:
    return Path(settings.MEDIA_ROOT) / "video-uploads" / str(company_public_id) / f"{session_public_id}.video"


@transaction.atomic
def upload_video(
    *, actor: Actor, session: EvaluationSession, file_path: Path, sample_fps: float, frames_total: int
) -> EvaluationSession:
    """Attach an already validated video file to a video session and queue its analysis.

    The file is moved next to the other queued videos and deleted once analysed (frames are never
    kept). One video per session.
    """
    _require_runner(actor, session, "upload a video")
    locked = _lock(session)
    if locked.channel != Channel.VIDEO:
        raise ActionConflict(f"Videos can be uploaded to video sessions; this one is {locked.channel}.", code="channel")
    if not locked.is_open:
        raise ActionConflict(
            f"Videos can only be added to an open session; this one is {locked.status}.", code="not_open"
        )
    if locked.video_status:
        raise ActionConflict("This session already has a video.", code="video_exists")
    locked.video_status = VideoStatus.QUEUED
    locked.video_sample_fps = sample_fps
    locked.video_frames_total = frames_total
    locked.save(update_fields=["video_status", "video_sample_fps", "video_frames_total"])
    audit(actor, locked.company, "session.video_uploaded", locked, {"sample_fps": sample_fps, "frames": frames_total})
    target = video_path(locked)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(file_path, target)
    except OSError as exc:
        target.unlink(missing_ok=True)
        raise ActionError(f"Could not store the video for analysis: {exc.strerror or exc}.", code="storage") from exc
    company_id, session_id = locked.company_id, locked.pk

    def enqueue() -> None:
        from evaluations.tasks import analyse_video

        analyse_video.delay(company_id, session_id)

    _event(locked, _video_payload(locked))  # before the task, which may run at once (eager mode)
    transaction.on_commit(enqueue)
    return locked


def _video_payload(session: EvaluationSession) -> dict[str, Any]:
    return {
        "type": "video.progress",
        "video_status": session.video_status,
        "frames_done": session.video_frames_done,
        "frames_total": session.video_frames_total,
        "progress": session.video_progress,
        "error": session.video_error,
        "grade": grade_summary(session),
    }


# --- Worker side -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameInput:
    """One analysed frame handed to :func:`record_observations` (faces largest first)."""

    sequence: int
    captured_at: datetime
    faces: tuple[grading.Face, ...] = ()
    model_version: str = ""
    offset_seconds: float | None = None  # None: seconds since the session started
    error: str = ""  # non-empty: the frame could not be analysed


@dataclass(frozen=True)
class Recorded:
    """What :func:`record_observations` did with a batch."""

    stored: list[int]
    duplicates: list[int]
    dropped: int


def _lock_by_id(company_id: int, session_id: int) -> EvaluationSession | None:
    # Workers hold ids, not a company object: filter by both ids (never by session id alone).
    return (
        EvaluationSession.unscoped_objects.select_for_update(of=("self",))
        .select_related("company", "rubric_version")
        .filter(pk=session_id, company_id=company_id)
        .first()
    )


_FRAME_FIELDS = (
    "public_id", "company_id", "rubric_version_id", "status", "started_at", "grade_state", "grade_letter", "score",
    "confidence", "frames_received", "frames_rejected", "frames_dropped", "frames_processed", "frames_failed",
    "faces_observed",
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


def _lock_for_frames(company_id: int, session_id: int) -> EvaluationSession | None:
    """Lock a session row for recording frames: one plain ``SELECT ... FOR UPDATE``, no joins.

    This runs for every live frame, so the rubric and the company's public id come from
    per-process caches of immutable rows instead of joins.
    """
    return (
        EvaluationSession.unscoped_objects.select_for_update()
        .only(*_FRAME_FIELDS)
        .filter(pk=session_id, company_id=company_id)
        .first()
    )


def _face_json(face: grading.Face, primary: bool) -> dict[str, Any]:
    return {
        "box": list(face.box),
        "score": round(face.score, 4),
        "emotions": {e: round(p, 4) for e, p in zip(grading.EMOTIONS, face.probabilities, strict=True)},
        "dominant": face.dominant,
        "quality": list(face.flags),
        "primary": primary,
    }


@transaction.atomic
def record_observations(
    *, company_id: int, session_id: int, frames: Sequence[FrameInput], push_frames: bool = True
) -> Recorded | None:
    """Store analysed frames and update the running grade; return None if the session is gone.

    Steps:
    1. Lock the session row: every writer of a session's frames holds this lock, so the ledger
       check below cannot race.
    2. A finished or cancelled session stores nothing; its frames are counted as dropped.
    3. Skip sequence numbers already in the ledger (a retried task, a repeated client number).
    4. Insert the ledger rows and the observations; fold usable frames into the running grade.
    5. After commit, push each frame's result and the running grade to the session and company.
    """
    _relax_commit()
    session = _lock_for_frames(company_id, session_id)
    if session is None:
        return None
    if not session.is_active:
        EvaluationSession.unscoped_objects.filter(pk=session.pk).update(
            frames_dropped=F("frames_dropped") + len(frames)
        )
        return Recorded(stored=[], duplicates=[], dropped=len(frames))

    wanted: dict[int, FrameInput] = {}
    duplicates: list[int] = []
    for frame in frames:
        if frame.sequence in wanted:
            duplicates.append(frame.sequence)
        else:
            wanted[frame.sequence] = frame
    seen = set(
        SessionFrame.unscoped_objects.filter(
            company_id=company_id, session_id=session.pk, sequence__in=list(wanted)
        ).values_list("sequence", flat=True)
    )
    duplicates += [seq for seq in wanted if seq in seen]
    new = [f for seq, f in wanted.items() if seq not in seen]

    rubric = rubric_of(session.rubric_version_id)
    state = grading.GradeState.from_json(session.grade_state)
    ledger: list[SessionFrame] = []
    observations: list[Observation] = []
    processed = failed = faces_total = 0
    results: list[dict[str, Any]] = []
    for frame in new:
        offset = (
            frame.offset_seconds
            if frame.offset_seconds is not None
            else max(0.0, (frame.captured_at - session.started_at).total_seconds())
        )
        outcome = FrameOutcome.FAILED if frame.error else FrameOutcome.PROCESSED
        ledger.append(
            SessionFrame(
                company_id=company_id,
                session=session,
                sequence=frame.sequence,
                captured_at=frame.captured_at,
                offset_seconds=offset,
                outcome=outcome,
                faces=len(frame.faces),
                error=frame.error[:300],
            )
        )
        if frame.error:
            failed += 1
            results.append({"type": "frame.failed", "sequence": frame.sequence, "detail": frame.error})
            continue
        processed += 1
        faces_total += len(frame.faces)
        primary = grading.primary_face_index(frame.faces)
        for index, face in enumerate(frame.faces):
            x, y, w, h = face.box
            observations.append(
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
                    quality_flags=list(face.flags),
                    model_version=frame.model_version,
                    **dict(zip(grading.EMOTIONS, face.probabilities, strict=True)),
                )
            )
        state.add(grading.Frame(sequence=frame.sequence, offset_seconds=offset, faces=frame.faces), rubric)
        results.append(
            {
                "type": "frame.result",
                "sequence": frame.sequence,
                "captured_at": frame.captured_at.isoformat(),
                "offset_seconds": round(offset, 3),
                "model_version": frame.model_version,
                "faces": [_face_json(face, i == primary) for i, face in enumerate(frame.faces)],
            }
        )

    if ledger:
        # Every writer holds the session lock, so nothing conflicts; ON CONFLICT DO NOTHING on the
        # unique constraints is the backstop, cheaper per frame than a savepoint.
        SessionFrame.objects.bulk_create(ledger, ignore_conflicts=True)
        Observation.objects.bulk_create(observations, ignore_conflicts=True)
        session.grade_state = state.to_json()
        _apply_grade(session, grading.summarize(state, rubric))
        session.frames_processed += processed
        session.frames_failed += failed
        session.faces_observed += faces_total
        session.save(
            update_fields=[
                "grade_state",
                "grade_letter",
                "score",
                "confidence",
                "frames_processed",
                "frames_failed",
                "faces_observed",
            ]
        )
        if push_frames:
            grade = grade_summary(session)
            stats = session.stats()
            for result in results:
                _event(session, {**result, "grade": grade, "stats": stats})
    return Recorded(stored=[f.sequence for f in new], duplicates=duplicates, dropped=0)


@transaction.atomic
def drop_stale_frame(*, company_id: int, session_id: int, session_public_id: str, sequence: int, age_ms: int) -> None:
    """Count a live frame that waited too long for a worker as dropped, and tell the session."""
    _relax_commit()
    updated = EvaluationSession.unscoped_objects.filter(pk=session_id, company_id=company_id).update(
        frames_dropped=F("frames_dropped") + 1
    )
    if updated:
        payload = {
            "type": "frame.dropped",
            "session": session_public_id,
            "sequence": sequence,
            "reason": "stale",
            "age_ms": age_ms,
        }
        message = {"type": "session.event", "payload": payload}
        transaction.on_commit(lambda: push([session_group(session_public_id)], message))


def count_live_frames(*, company_id: int, session_id: int, received: int, rejected: int, dropped: int) -> None:
    """Add the websocket consumer's counters (flushed about once a second, and on disconnect)."""
    if not (received or rejected or dropped):
        return
    EvaluationSession.unscoped_objects.filter(pk=session_id, company_id=company_id).update(
        frames_received=F("frames_received") + received,
        frames_rejected=F("frames_rejected") + rejected,
        frames_dropped=F("frames_dropped") + dropped,
    )


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
    _event(session, _video_payload(session))
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
    _event(session, _video_payload(session))
    return True


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
    _event(session, _video_payload(session))
    if not error and session.is_active:
        return finish_session(actor=SYSTEM, session=session)
    return session


# --- Retention -----------------------------------------------------------------------------------

PURGE_BATCH = 500


def purge_expired_sessions(*, now: datetime | None = None) -> dict[str, int]:
    """Delete every company's sessions older than its ``retention_days``; return counts by slug.

    A session's age counts from its end, or from its start if it never ended (abandoned).
    Each company is purged in its own transaction, with its own cutoff, and only through its own
    scoped queryset; companies with nothing to purge are left out of the result.
    """
    now = now or timezone.now()
    purged: dict[str, int] = {}
    for company in Company.objects.order_by("pk"):
        count = _purge_company(company, now - timedelta(days=company.retention_days))
        if count:
            purged[company.slug] = count
    return purged


@transaction.atomic
def _purge_company(company: Company, cutoff: datetime) -> int:
    """Steps: pick expired session ids in batches; delete their observations, frame ledger and
    sessions; after commit delete any video file still waiting; write one audit row."""
    expired = (
        EvaluationSession.objects.for_company(company)
        .annotate(last_activity=Coalesce("ended_at", "started_at"))
        .filter(last_activity__lt=cutoff)
        .order_by("pk")
    )
    total = 0
    while batch := list(expired.values_list("pk", "public_id")[:PURGE_BATCH]):
        ids = [pk for pk, _ in batch]
        Observation.objects.for_company(company).filter(session_id__in=ids).delete()
        SessionFrame.objects.for_company(company).filter(session_id__in=ids).delete()
        EvaluationSession.objects.for_company(company).filter(pk__in=ids).delete()
        files = [_video_file(company.public_id, public_id) for _, public_id in batch]
        transaction.on_commit(functools.partial(_delete_files, files))
        total += len(batch)
    if total:
        audit(
            SYSTEM,
            company,
            "sessions.purged",
            company,
            {"sessions": total, "retention_days": company.retention_days, "cutoff": cutoff.isoformat()},
        )
    return total


def _delete_files(files: Sequence[Path]) -> None:
    for file in files:
        file.unlink(missing_ok=True)
