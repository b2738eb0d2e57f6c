"""Write events to the outbox: once per key, in the caller's transaction, fan-out on commit."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction

from accounts.models import Company
from notifications import queue
from notifications.models import Event

PAYLOAD_VERSION = 1
"""Version of every event's ``data`` schema (docs/notifications.md); bump on incompatible change."""


def record_event(
    *,
    company: Company,
    key: str,
    type: str,
    payload: dict[str, Any],
    session_public_id: uuid.UUID | None = None,
    agent_id: int | None = None,
) -> Event | None:
    """Store an event under ``key`` unless one is stored already; return it only when new.

    Runs inside the transaction of the change it reports (an outbox row commits or rolls back
    with it). A new event is handed to the fan-out task once the transaction commits; an event
    whose key exists (a retried task, a re-delivered message, a second finish) changes nothing.
    """
    with transaction.atomic():
        event, created = Event.objects.for_company(company).get_or_create(
            key=key,
            defaults={
                "company": company,
                "type": type,
                "version": PAYLOAD_VERSION,
                "payload": payload,
                "session_public_id": session_public_id,
                "agent_id": agent_id,
            },
        )
    if not created:
        return None
    queue.dispatch_event_on_commit(event.company_id, event.pk)
    return event
