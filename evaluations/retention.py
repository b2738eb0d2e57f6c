"""Retention: deleting each company's evaluation data once it is older than the company allows."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from django.db import transaction
from django.db.models.functions import Coalesce

from accounts.actions import audit, purge_past_retention
from accounts.models import Company
from evaluations import frames
from evaluations.actions import SYSTEM
from evaluations.models import EvaluationSession, Observation, SessionFrame, video_file

log = logging.getLogger(__name__)

PURGE_BATCH = 500


def purge_expired_sessions(*, now: datetime | None = None) -> dict[str, int]:
    """Delete every company's sessions older than its ``retention_days``; return counts by slug.

    A session's age counts from its end, or from its start if it never ended (abandoned).
    Each company is purged in its own transaction, with its own cutoff, and only through its own
    scoped queryset; companies with nothing to purge are left out of the result.

    Stored frames older than the company's ``frame_retention_days`` go first
    (:func:`purge_expired_frames`: the scheduled task calls this function only).
    """
    stored = purge_expired_frames(now=now)
    if stored:
        log.info("retention: purged stored frames %s", stored)
    return purge_past_retention(_purge_company, now=now)


def purge_expired_frames(*, now: datetime | None = None) -> dict[str, int]:
    """Delete every company's stored frames captured more than ``frame_retention_days`` ago.

    Whether the company still stores frames does not matter: frames kept while it did age out
    the same way. Counts by company slug.
    """
    return purge_past_retention(_purge_company_frames, now=now, days=lambda company: company.frame_retention_days)


@transaction.atomic
def _purge_company_frames(company: Company, cutoff: datetime) -> int:
    """Delete the company's frames captured before ``cutoff`` (files after commit) and audit the count."""
    total = frames.delete_company_frames(company, captured_before=cutoff)
    if total:
        audit(
            SYSTEM,
            company,
            "frames.purged",
            company,
            {"frames": total, "frame_retention_days": company.frame_retention_days, "cutoff": cutoff.isoformat()},
        )
    return total


@transaction.atomic
def _purge_company(company: Company, cutoff: datetime) -> int:
    """Steps: pick expired session ids in batches; delete their stored frames, observations, frame
    ledger and sessions; after commit delete any video file still waiting and the stored frames'
    files; write one audit row."""
    expired = (
        EvaluationSession.objects.for_company(company)
        .annotate(last_activity=Coalesce("ended_at", "started_at"))
        .filter(last_activity__lt=cutoff)
        .order_by("pk")
    )
    total = 0
    while batch := list(expired.values_list("pk", "public_id")[:PURGE_BATCH]):
        ids = [pk for pk, _ in batch]
        frames.delete_frames_of_sessions(company, batch)
        Observation.objects.for_company(company).filter(session_id__in=ids).delete()
        SessionFrame.objects.for_company(company).filter(session_id__in=ids).delete()
        EvaluationSession.objects.for_company(company).filter(pk__in=ids).delete()
        files = [video_file(company.public_id, public_id) for _, public_id in batch]
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
