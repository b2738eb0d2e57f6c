"""Data rights: export a company's data, delete one session, erase one customer, delete the
stored frames (docs/privacy.md).

Each is an action like those of ``evaluations.actions``: keyword-only ``actor``, one
transaction, an audit row. Deleting removes a session with everything recorded about it: its
observations, frame ledger, stored frames and consent receipt, a video still waiting for analysis
and the stored frames' files (after commit), and what other
apps keep about it (``signals.sessions_deleted``: notifications drops the session's events, their
e-mails, webhook deliveries and alerts). The audit log keeps that it happened, without the
customer reference.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.actions import audit, redact_audit_metadata
from accounts.exceptions import ActionConflict, ActionError, ActionForbidden, ActionNotFound
from accounts.models import Actor, Company, Role
from evaluations import frames, signals
from evaluations.export import write_company_export
from evaluations.models import EvaluationSession, Observation, SessionFrame, Status, video_file

_ACTIVE = (Status.OPEN, Status.PAUSED)


def _require(actor: Actor, role: Role, refusal: str) -> None:
    if actor.role is not None and not actor.role.at_least(role):
        raise ActionForbidden(refusal, code="role")


def _delete(company: Company, sessions: Sequence[tuple[int, uuid.UUID]], customer_reference: str = "") -> None:
    """Delete sessions ``(pk, public_id)`` of ``company`` and everything hanging off them."""
    ids = [pk for pk, _public_id in sessions]
    frames.delete_frames_of_sessions(company, sessions)
    Observation.objects.for_company(company).filter(session_id__in=ids).delete()
    SessionFrame.objects.for_company(company).filter(session_id__in=ids).delete()
    EvaluationSession.objects.for_company(company).filter(pk__in=ids).delete()
    public_ids = [str(public_id) for _pk, public_id in sessions]
    signals.sessions_deleted.send(
        sender=EvaluationSession, company=company, session_public_ids=public_ids, customer_reference=customer_reference
    )
    files = [video_file(company.public_id, public_id) for _pk, public_id in sessions]
    transaction.on_commit(functools.partial(_unlink, files))


def _unlink(files: Sequence[Path]) -> None:
    for file in files:
        file.unlink(missing_ok=True)


@transaction.atomic
def delete_session(*, actor: Actor, session: EvaluationSession) -> None:
    """Delete one finished or cancelled session (admins, owners, read-write tokens)."""
    _require(actor, Role.ADMIN, _("Only an admin or higher can delete sessions."))
    locked = (
        EvaluationSession.objects.for_company_id(session.company_id)
        .select_for_update(of=("self",))
        .select_related("company", "agent")
        .get(pk=session.pk)
    )
    if locked.status in _ACTIVE:
        raise ActionConflict(_("This session is still running: finish or cancel it before deleting it."), code="active")
    audit(
        actor,
        locked.company,
        "session.deleted",
        locked,
        {
            "agent": locked.agent.email if locked.agent else None,
            "channel": locked.channel,
            "status": locked.status,
            "started_at": locked.started_at.isoformat(),
            "grade": locked.grade_letter,
        },
    )
    _delete(locked.company, [(locked.pk, locked.public_id)])


@dataclass(frozen=True)
class Erasure:
    sessions: int
    audit_events_redacted: int


@transaction.atomic
def erase_customer(*, actor: Actor, company: Company, customer_reference: str) -> Erasure:
    """Delete every session of one customer reference and take the reference out of the audit log.

    Steps:
    1. Lock the company's sessions with this reference (case-insensitive, as the list filter);
       refuse while one of them is still running.
    2. Redact the reference from the audit rows that name it (``redact_audit_metadata``).
    3. Delete the sessions with everything hanging off them (:func:`_delete`).
    4. Audit the erasure by its counts and session ids, never by the reference.
    Nothing found at all: 404, and nothing is written.
    """
    _require(actor, Role.ADMIN, _("Only an admin or higher can erase a customer's data."))
    reference = customer_reference.strip()
    if not reference:
        raise ActionError(_("Give the customer reference to erase."), code="customer_reference")
    sessions = list(
        EvaluationSession.objects.for_company(company)
        .select_for_update()
        .filter(customer_reference__iexact=reference)
        .order_by("pk")
        .values_list("pk", "public_id", "status")
    )
    if any(status in _ACTIVE for _pk, _public_id, status in sessions):
        raise ActionConflict(
            _("A session of this customer is still running: finish or cancel it before erasing."), code="active"
        )
    redacted = redact_audit_metadata(company=company, needle=reference)
    if not sessions and not redacted:
        raise ActionNotFound(
            _("No session or audit entry of your company has this customer reference."), code="not_found"
        )
    _delete(company, [(pk, public_id) for pk, public_id, _status in sessions], customer_reference=reference)
    audit(
        actor,
        company,
        "customer.erased",
        company,
        {
            "sessions": len(sessions),
            "session_ids": [str(public_id) for _pk, public_id, _status in sessions],
            "audit_events_redacted": redacted,
        },
    )
    return Erasure(sessions=len(sessions), audit_events_redacted=redacted)


@transaction.atomic
def export_company_data(*, actor: Actor, company: Company, out: IO[bytes]) -> dict[str, int]:
    """Write the company's data as a zip into ``out`` (owners only; ``evaluations.export``)."""
    _require(actor, Role.OWNER, _("Only an owner can export the company's data."))
    if actor.token is not None:
        raise ActionForbidden(_("Only an owner can export the company's data."), code="role")
    counts = write_company_export(company, out, exported_by=actor.label)
    audit(actor, company, "company.exported", company, {"rows": counts})
    return counts


@transaction.atomic
def delete_stored_frames(*, actor: Actor, company: Company) -> int:
    """Delete every stored frame of the company now, rows and files (owners; audited); return the count.

    Switching frame storage off keeps what was stored until its retention passes; this is the
    owner's way to have it gone at once. Sessions, grades and observations stay.
    """
    _require(actor, Role.OWNER, _("Only an owner can delete the stored frames."))
    if actor.token is not None:
        raise ActionForbidden(_("Only an owner can delete the stored frames."), code="role")
    Company.objects.select_for_update().filter(pk=company.pk).first()  # one deletion at a time per company
    deleted = frames.delete_company_frames(company)
    if deleted:  # nothing stored: nothing happened, nothing to record
        audit(actor, company, "frames.deleted", company, {"frames": deleted})
    return deleted
