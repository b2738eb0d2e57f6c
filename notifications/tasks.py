"""Celery tasks of notifications, all on the ``default`` queue.

Tasks take ids (and the company id), re-fetch first and return quietly when the row is gone, and
are idempotent: every delivery is a row unique per event and recipient, claimed with a
conditional update before anything is sent.
"""

from __future__ import annotations

import logging

from celery import shared_task

from notifications import digests, fanout, queue, retention, sending

log = logging.getLogger(__name__)


@shared_task(name="notifications.dispatch_event", soft_time_limit=60, time_limit=90, acks_late=True, ignore_result=True)
def dispatch_event(company_id: int, event_id: int) -> None:
    """Create the deliveries of a new event (e-mails, in-app alerts, webhooks) and queue them."""
    fanout.dispatch(company_id, event_id)


@shared_task(name="notifications.send_email", soft_time_limit=60, time_limit=90, acks_late=True, ignore_result=True)
def send_email(company_id: int, delivery_id: int) -> None:
    """Send one e-mail delivery (claimed first: a repeated task sends nothing)."""
    sending.send_email(company_id, delivery_id)


@shared_task(
    name="notifications.deliver_webhook", soft_time_limit=30, time_limit=45, acks_late=True, ignore_result=True
)
def deliver_webhook(company_id: int, delivery_id: int) -> None:
    """Make one attempt of a webhook delivery (claimed first: only a due delivery is attempted)."""
    sending.deliver_webhook(company_id, delivery_id)


@shared_task(name="notifications.sweep", soft_time_limit=50, time_limit=60, ignore_result=True)
def sweep() -> None:
    """Queue the retries that are due (scheduled by Celery beat every 30 seconds)."""
    emails_due, hooks_due = sending.due_work()
    for company_id, delivery_id in emails_due:
        queue.send_email(company_id, delivery_id)
    for company_id, delivery_id in hooks_due:
        queue.deliver_webhook(company_id, delivery_id)


@shared_task(name="notifications.produce_digests", soft_time_limit=600, time_limit=660, ignore_result=True)
def produce_digests() -> None:
    """Produce the daily and weekly digests that are due (scheduled hourly by Celery beat)."""
    produced = digests.produce_due()
    if produced:
        log.info("digests produced: %s", ", ".join(produced))


@shared_task(name="notifications.purge_expired", ignore_result=True)
def purge_expired() -> None:
    """Apply every company's retention period to its events (scheduled by Celery beat)."""
    purged = retention.purge_expired_events()
    if purged:
        log.info("retention: purged events %s", purged)
