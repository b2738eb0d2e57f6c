"""Enqueue the notification tasks: the one place that knows their names and argument shapes.

Outbox writers, actions and views call these helpers instead of importing ``notifications.tasks``
(tasks import actions, never the reverse). Every notification task runs on the ``default``
queue: ``moodsaas.celery`` routes only inference work elsewhere.
"""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.db import transaction

DISPATCH_EVENT = "notifications.dispatch_event"
SEND_EMAIL = "notifications.send_email"
DELIVER_WEBHOOK = "notifications.deliver_webhook"
SWEEP = "notifications.sweep"


def _send(name: str, args: tuple[Any, ...], countdown: float | None = None) -> None:
    current_app.tasks[name].apply_async(args=args, countdown=countdown)


def dispatch_event_on_commit(company_id: int, event_id: int) -> None:
    """Fan an event out to its recipients once the current transaction commits."""
    transaction.on_commit(lambda: _send(DISPATCH_EVENT, (company_id, event_id)))


def send_email_on_commit(company_id: int, delivery_id: int) -> None:
    transaction.on_commit(lambda: _send(SEND_EMAIL, (company_id, delivery_id)))


def deliver_webhook_on_commit(company_id: int, delivery_id: int) -> None:
    transaction.on_commit(lambda: _send(DELIVER_WEBHOOK, (company_id, delivery_id)))


def deliver_webhook(company_id: int, delivery_id: int, countdown: float | None = None) -> None:
    """Queue a webhook delivery attempt (now, or in ``countdown`` seconds: a soon retry)."""
    _send(DELIVER_WEBHOOK, (company_id, delivery_id), countdown)


def send_email(company_id: int, delivery_id: int) -> None:
    """Queue an e-mail now (the retry sweeper)."""
    _send(SEND_EMAIL, (company_id, delivery_id))
