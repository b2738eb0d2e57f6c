"""Celery tasks of notifications, all on the ``default`` queue.

Tasks take ids (and the company id), re-fetch first and return quietly when the row is gone, and
are idempotent: every delivery is a row unique per event and recipient, claimed with a
conditional update before anything is sent.
"""

from __future__ import annotations

import logging

from celery import shared_task

from notifications import fanout, sending

log = logging.getLogger(__name__)


@shared_task(name="notifications.dispatch_event", soft_time_limit=60, time_limit=90, acks_late=True, ignore_result=True)
def dispatch_event(company_id: int, event_id: int) -> None:
    """Create the deliveries of a new event (e-mails, in-app alerts, webhooks) and queue them."""
    fanout.dispatch(company_id, event_id)


@shared_task(name="notifications.send_email", soft_time_limit=60, time_limit=90, acks_late=True, ignore_result=True)
def send_email(company_id: int, delivery_id: int) -> None:
    """Send one e-mail delivery (claimed first: a repeated task sends nothing)."""
    sending.send_email(company_id, delivery_id)
