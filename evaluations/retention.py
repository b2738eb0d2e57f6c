"""Retention: deleting each company's evaluation data once it is older than the company allows."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from django.db import transaction
from django.db.models.functions import Coalesce

from accounts.actions import audit, purge_past_retention
from accounts.models import Company
from evaluations.actions import SYSTEM
from evaluations.models import EvaluationSession, Observation, SessionFrame, video_file

PURGE_BATCH = 500


def purge_expired_sessions(*, now: datetime | None = None) -> dict[str, int]:
    """Delete every company's sessions older than its ``retention_days``; return counts by slug.

    A session's age counts from its end, or from its start if it never ended (abandoned).
    Each company is purged in its own transaction, with its own cutoff, and only through its own
    scoped queryset; companies with nothing to purge are left out of the result.
    """
    return purge_past_retention(_purge_company, now=now)


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
