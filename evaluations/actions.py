"""The user-facing state changes of evaluation sessions: atomic, audited, fan-out only on commit.

Start, pause, resume, finish, cancel and uploads change what a session *is* and are audited.
The worker's per-frame bookkeeping lives in ``evaluations.recording``, retention in
``evaluations.retention``, reads in ``evaluations.selectors``, websocket messages in
``evaluations.protocol`` and task enqueueing in ``evaluations.queue``.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.actions import audit
from accounts.exceptions import ActionConflict, ActionError, ActionForbidden
from accounts.models import Actor, Company, Membership, Role, User
from evaluations import grading, protocol, queue, signals
from evaluations.models import (
    Channel,
    ConsentChannel,
    ConsentReceipt,
    EvaluationSession,
    RubricVersion,
    Status,
    VideoStatus,
)
from evaluations.selectors import grade_summary, model_versions, running_grade

SYSTEM = Actor()
"""The actor of what the system does on its own (video completion, retention)."""


# --- Rubric versions ---------------------------------------------------------------------------


def current_rubric_version(company: Company) -> RubricVersion:
    """Return the version of ``company``'s current rubric, creating it when the rules changed."""
    try:
        rubric = grading.Rubric.from_json(company.grading_rubric)
    except grading.RubricError as exc:
        raise ActionError(
            _("The company's grading rubric is invalid: %(error)s") % {"error": exc}, code="invalid_rubric"
        ) from None
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


def _status(session: EvaluationSession) -> str:
    """The session's status for a message, in the reader's language ("finished" in English)."""
    return str(session.get_status_display()).lower()


def _require_runner(actor: Actor, session: EvaluationSession, refusal: str) -> None:
    """Admins, owners, read-write tokens and the system run any session; agents only their own.

    ``refusal`` is the whole sentence, translated: word order differs between languages.
    """
    if actor.role is None or actor.role.at_least(Role.ADMIN):
        return
    if actor.user is not None and actor.user.pk == session.agent_id:
        return
    raise ActionForbidden(refusal, code="role")


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
    notice_version: int | None = None,
) -> EvaluationSession:
    """Open a session for ``agent`` (agents may only start their own) under the current rubric.

    A live session needs ``notice_shown``: the company's camera notice was shown to the customer
    before the camera started (the agent page asks the agent to confirm it). It gets a
    :class:`ConsentReceipt` with the notice's exact text, version and SHA-256. ``notice_version``,
    when given, is the version the caller showed: a notice changed since then is refused (409),
    so the receipt never names a text the customer did not see.
    """
    is_agent = actor.role is not None and not actor.role.at_least(Role.ADMIN)
    if is_agent and (actor.user is None or actor.user.pk != agent.pk):
        raise ActionForbidden(_("Agents can only start sessions for themselves."), code="role")
    if not Membership.objects.for_company(company).filter(user=agent).exists():
        raise ActionError(
            _("%(email)s is not a member of %(company)s.") % {"email": agent.email, "company": company.name},
            code="agent",
        )
    if channel not in Channel.values:
        raise ActionError(_("Unknown channel %(channel)s.") % {"channel": repr(channel)}, code="channel")
    if channel == Channel.LIVE and not notice_shown:
        raise ActionError(
            _("A live session starts only after the company's camera notice was shown to the customer (notice_shown)."),
            code="notice_not_shown",
        )
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
    if channel == Channel.LIVE:
        _consent_receipt(actor, company, session, notice_version)
    protocol.broadcast_on_commit(session, protocol.session_status(session, agent=agent.email))
    return session


def _consent_receipt(
    actor: Actor, company: Company, session: EvaluationSession, shown_version: int | None
) -> ConsentReceipt:
    """Record which notice text was confirmed, by whom and how, for a live session (in its transaction)."""
    # Read now, not from the request's company object: the notice may have changed meanwhile.
    text, version = Company.objects.filter(pk=company.pk).values_list("consent_notice", "consent_notice_version").get()
    if shown_version is not None and shown_version != version:
        raise ActionConflict(
            _(
                "The camera notice changed (version %(shown)s shown, version %(current)s now): reload the page "
                "and show the customer the new notice."
            )
            % {"shown": shown_version, "current": version},
            code="notice_changed",
        )
    if actor.token is not None:
        channel = ConsentChannel.API_TOKEN
    elif actor.user is not None:
        channel = ConsentChannel.SIGNED_IN
    else:
        channel = ConsentChannel.SYSTEM
    return ConsentReceipt.objects.create(
        company=company,
        session=session,
        notice_version=version,
        notice_sha256=hashlib.sha256(text.encode()).hexdigest(),
        notice_text=text,
        confirmed_at=session.started_at,
        confirmed_by_user=actor.user,
        confirmed_by=actor.label,
        channel=channel,
    )


@transaction.atomic
def pause_session(*, actor: Actor, session: EvaluationSession) -> EvaluationSession:
    """Stop recording: frames sent while paused are refused. Pausing a paused session is a no-op."""
    _require_runner(actor, session, _("Only the session's agent or an admin can pause it."))
    locked = _lock(session)
    if locked.status == Status.PAUSED:
        return locked
    if not locked.is_open:
        raise ActionConflict(
            _("Only an open session can be paused; this one is %(status)s.") % {"status": _status(locked)},
            code="not_open",
        )
    locked.status = Status.PAUSED
    locked.paused_at = timezone.now()
    locked.save(update_fields=["status", "paused_at"])
    audit(actor, locked.company, "session.paused", locked, locked.stats())
    protocol.broadcast_on_commit(locked, protocol.session_status(locked))
    return locked


@transaction.atomic
def resume_session(*, actor: Actor, session: EvaluationSession) -> EvaluationSession:
    """Start recording again. Resuming an open session is a no-op."""
    _require_runner(actor, session, _("Only the session's agent or an admin can resume it."))
    locked = _lock(session)
    if locked.is_open:
        return locked
    if locked.status != Status.PAUSED:
        raise ActionConflict(
            _("Only a paused session can be resumed; this one is %(status)s.") % {"status": _status(locked)},
            code="not_paused",
        )
    locked.status = Status.OPEN
    locked.paused_at = None
    locked.save(update_fields=["status", "paused_at"])
    audit(actor, locked.company, "session.resumed", locked, {})
    protocol.broadcast_on_commit(locked, protocol.session_status(locked))
    return locked


def final_grade_snapshot(session: EvaluationSession, now: datetime) -> dict[str, Any]:
    """The frozen grade of a finished session: the grade, its rubric version and the counters."""
    grade = running_grade(session)
    return {
        **grade.to_json(),
        "rubric_version": session.rubric_version.version,
        "rubric": session.rubric_version.rules,
        "model_version": model_versions(session),
        "stats": session.stats(),
        "graded_at": now.isoformat(),
    }


def apply_grade(session: EvaluationSession, grade: grading.Grade) -> None:
    """Copy a grade onto the session's columns (letter, score, confidence); the caller saves."""
    session.grade_letter = grade.letter or grading.INSUFFICIENT
    session.score = grade.score
    session.confidence = grade.confidence


@transaction.atomic
def finish_session(*, actor: Actor, session: EvaluationSession) -> EvaluationSession:
    """Close the session and freeze its grade. Finishing a finished session is a no-op."""
    _require_runner(actor, session, _("Only the session's agent or an admin can finish it."))
    locked = _lock(session)
    if locked.status == Status.FINISHED:
        return locked
    if locked.status == Status.CANCELLED:
        raise ActionConflict(_("A cancelled session cannot be finished."), code="cancelled")
    now = timezone.now()
    locked.final_grade = final_grade_snapshot(locked, now)
    grade = running_grade(locked)
    apply_grade(locked, grade)
    moved = grading.trajectory(grade.timeline) if grade.letter else None
    locked.trajectory = moved.kind if moved else ""
    locked.final_grade["trajectory"] = (
        {"kind": moved.kind, "start_score": moved.start_score, "end_score": moved.end_score} if moved else None
    )
    locked.status = Status.FINISHED
    locked.ended_at = now
    locked.paused_at = None
    locked.save(
        update_fields=[
            "final_grade",
            "grade_letter",
            "score",
            "confidence",
            "trajectory",
            "status",
            "ended_at",
            "paused_at",
        ]
    )
    audit(
        actor,
        locked.company,
        "session.finished",
        locked,
        {"grade": locked.grade_letter, "score": locked.score, **locked.stats()},
    )
    signals.session_finished.send(sender=EvaluationSession, session=locked)
    protocol.broadcast_on_commit(locked, protocol.session_status(locked, grade=locked.final_grade))
    return locked


@transaction.atomic
def cancel_session(*, actor: Actor, session: EvaluationSession) -> EvaluationSession:
    """Abandon the session without a grade. Cancelling a cancelled session is a no-op."""
    _require_runner(actor, session, _("Only the session's agent or an admin can cancel it."))
    locked = _lock(session)
    if locked.status == Status.CANCELLED:
        return locked
    if locked.status == Status.FINISHED:
        raise ActionConflict(_("A finished session cannot be cancelled."), code="finished")
    locked.status = Status.CANCELLED
    locked.ended_at = timezone.now()
    locked.paused_at = None
    locked.save(update_fields=["status", "ended_at", "paused_at"])
    audit(actor, locked.company, "session.cancelled", locked, locked.stats())
    protocol.broadcast_on_commit(locked, protocol.session_status(locked))
    return locked


# --- Uploads -----------------------------------------------------------------------------------


@transaction.atomic
def add_images(*, actor: Actor, session: EvaluationSession, images: Sequence[bytes]) -> list[int]:
    """Queue already validated images of an open session for analysis; return their sequence numbers.

    Images get consecutive server-assigned sequence numbers; each is analysed by the same task
    as a live frame, so its result is pushed and stored the same way.
    """
    _require_runner(actor, session, _("Only the session's agent or an admin can add images."))
    locked = _lock(session)
    if locked.channel not in (Channel.IMAGES, Channel.API):
        raise ActionConflict(
            _("Images can be added to image-upload or API sessions; this one is %(channel)s.")
            % {"channel": locked.channel},
            code="channel",
        )
    if not locked.is_open:
        raise ActionConflict(
            _("Images can only be added to an open session; this one is %(status)s.") % {"status": _status(locked)},
            code="not_open",
        )
    if not images:
        raise ActionError(_("Send at least one image."), code="no_images")
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
    queue.analyse_frames_on_commit(
        [
            queue.FrameJob(
                company_id=locked.company_id, session_id=locked.pk, sequence=seq, captured_at=now, image=image
            )
            for seq, image in zip(sequences, images, strict=True)
        ]
    )
    return sequences


@transaction.atomic
def upload_video(
    *, actor: Actor, session: EvaluationSession, file_path: Path, sample_fps: float, frames_total: int
) -> EvaluationSession:
    """Attach an already validated video file to a video session and queue its analysis.

    The file is moved next to the other queued videos and deleted once analysed (frames are never
    kept). One video per session.
    """
    _require_runner(actor, session, _("Only the session's agent or an admin can upload a video."))
    locked = _lock(session)
    if locked.channel != Channel.VIDEO:
        raise ActionConflict(
            _("Videos can be uploaded to video sessions; this one is %(channel)s.") % {"channel": locked.channel},
            code="channel",
        )
    if not locked.is_open:
        raise ActionConflict(
            _("Videos can only be added to an open session; this one is %(status)s.") % {"status": _status(locked)},
            code="not_open",
        )
    if locked.video_status:
        raise ActionConflict(_("This session already has a video."), code="video_exists")
    locked.video_status = VideoStatus.QUEUED
    locked.video_sample_fps = sample_fps
    locked.video_frames_total = frames_total
    locked.save(update_fields=["video_status", "video_sample_fps", "video_frames_total"])
    audit(actor, locked.company, "session.video_uploaded", locked, {"sample_fps": sample_fps, "frames": frames_total})
    target = locked.video_path
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(file_path, target)
    except OSError as exc:
        target.unlink(missing_ok=True)
        raise ActionError(
            _("Could not store the video for analysis: %(error)s.") % {"error": exc.strerror or exc}, code="storage"
        ) from exc
    # The event before the task, which may run at once (eager mode).
    protocol.broadcast_on_commit(locked, protocol.video_progress(locked, grade_summary(locked)))
    queue.analyse_video_on_commit(locked.company_id, locked.pk)
    return locked


# --- Customer satisfaction (CSAT) ----------------------------------------------------------------


@transaction.atomic
def record_csat(*, actor: Actor, session: EvaluationSession, csat: int | None) -> EvaluationSession:
    """Store (or clear, with None) the customer's own survey answer, 1-5, for a finished session."""
    _require_runner(actor, session, _("Only the session's agent or an admin can record the customer's answer."))
    if csat is not None and not (isinstance(csat, int) and 1 <= csat <= 5):
        raise ActionError(_("CSAT is a whole number from 1 to 5."), code="csat")
    locked = _lock(session)
    if locked.status != Status.FINISHED:
        raise ActionConflict(
            _("A CSAT answer belongs to a finished session; this one is %(status)s.") % {"status": _status(locked)},
            code="not_finished",
        )
    if locked.csat == csat:
        return locked
    previous = locked.csat
    locked.csat = csat
    locked.csat_recorded_at = timezone.now() if csat is not None else None
    locked.save(update_fields=["csat", "csat_recorded_at"])
    audit(actor, locked.company, "session.csat_recorded", locked, {"from": previous, "to": csat})
    return locked
