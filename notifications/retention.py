"""Retention: events describe sessions (agent, customer reference, grade), so they go when the
company's evaluation data would, with their e-mails, webhook deliveries, attempts and alerts;
and when sessions are deleted on request (``forget_sessions``)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast

from accounts.actions import audit, purge_past_retention, redact
from accounts.models import Actor, Company
from notifications.models import EmailDelivery, Event, Notification, WebhookAttempt, WebhookDelivery

PURGE_BATCH = 500


def purge_expired_events(*, now: datetime | None = None) -> dict[str, int]:
    """Delete every company's events older than its ``retention_days``; return counts by slug."""
    return purge_past_retention(_purge_company, now=now)


@transaction.atomic
def _purge_company(company: Company, cutoff: datetime) -> int:
    """Steps: pick expired event ids in batches; delete what hangs off them, then them; one audit row."""
    expired = Event.objects.for_company(company).filter(created_at__lt=cutoff).order_by("pk")
    total = 0
    while ids := list(expired.values_list("pk", flat=True)[:PURGE_BATCH]):
        _delete_events(company, ids)
        total += len(ids)
    if total:
        audit(
            Actor(),
            company,
            "notifications.purged",
            company,
            {"events": total, "retention_days": company.retention_days, "cutoff": cutoff.isoformat()},
        )
    return total


def _delete_events(company: Company, ids: list[int]) -> None:
    """Delete events ``ids`` of ``company`` and what hangs off them."""
    deliveries = WebhookDelivery.objects.for_company(company).filter(event_id__in=ids)
    WebhookAttempt.objects.for_company(company).filter(delivery_id__in=deliveries.values("pk")).delete()
    deliveries.delete()
    EmailDelivery.objects.for_company(company).filter(event_id__in=ids).delete()
    Notification.objects.for_company(company).filter(event_id__in=ids).delete()
    Event.objects.for_company(company).filter(pk__in=ids).delete()


def forget_sessions(*, company: Company, session_public_ids: list[str], customer_reference: str = "") -> None:
    """Sessions were deleted on request (``evaluations.privacy``): forget what events say about them.

    The events about those sessions go, with their e-mails, webhook deliveries, attempts and
    alerts. An erased ``customer_reference`` is also taken out of the events that only mention
    it among others (digests list a period's sessions). Webhooks and e-mails already sent cannot
    be recalled: docs/privacy.md says so.
    """
    events = Event.objects.for_company(company).filter(session_public_id__in=session_public_ids).order_by("pk")
    while ids := list(events.values_list("pk", flat=True)[:PURGE_BATCH]):
        _delete_events(company, ids)
    if not customer_reference.strip():
        return
    mentioning = (
        Event.objects.for_company(company)
        .annotate(text=Cast("payload", TextField()))
        .filter(text__icontains=customer_reference.strip())
        .values_list("pk", "payload")
    )
    for pk, payload in mentioning:
        cleaned = redact(payload, customer_reference)
        if cleaned != payload:
            Event.objects.for_company(company).filter(pk=pk).update(payload=cleaned)
