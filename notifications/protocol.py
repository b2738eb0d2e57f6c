"""The websocket protocol of in-app alerts, in one place (``/ws/notifications/``).

One group per person and company, derived from server-side ids only; the fan-out, the read
actions and the consumer all build their messages here. docs/notifications.md lists them.

Messages (JSON text):

- ``notifications.hello``: ``{"type", "unread"}``, the first message on the socket;
- ``notification.new``: ``{"type", "unread", "notification": {id, title, reason, session, url,
  created_at}}``, a new alert;
- ``notifications.unread``: ``{"type", "unread"}``, the count changed (read on another tab).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.realtime import push
from notifications.models import Notification

HANDLER = "notifications.event"
"""Channel-layer message type: Channels calls the consumer's ``notifications_event`` method."""


def user_group(company_public_id: uuid.UUID | str, user_id: int) -> str:
    return f"notifications.{uuid.UUID(str(company_public_id)).hex}.{int(user_id)}"


def hello(unread: int) -> dict[str, Any]:
    return {"type": "notifications.hello", "unread": unread}


def unread(count: int) -> dict[str, Any]:
    return {"type": "notifications.unread", "unread": count}


def title(notification: Notification) -> str:
    """A one-line description of an alert, in the active language."""
    data = notification.event.payload
    if data.get("reason") == "sustained_negative":
        seconds = int(data.get("episode", {}).get("duration_seconds", 0))
        return _("A customer has looked upset for %(seconds)s seconds in a running session") % {"seconds": seconds}
    letter = (data.get("session") or {}).get("grade", {}).get("letter") or ""
    return _("A session ended with %(letter)s") % {"letter": letter}


def describe(notification: Notification) -> dict[str, Any]:
    data = notification.event.payload
    session = data.get("session") or {}
    return {
        "id": str(notification.public_id),
        "title": title(notification),
        "reason": data.get("reason"),
        "session": session.get("id"),
        "agent": (session.get("agent") or {}).get("email"),
        "url": reverse("notifications-open", kwargs={"notification_id": notification.public_id}),
        "created_at": notification.created_at.isoformat(),
        "read": notification.read_at is not None,
    }


def new(notification: Notification, unread_count: int) -> dict[str, Any]:
    return {"type": "notification.new", "unread": unread_count, "notification": describe(notification)}


def send_on_commit(company_public_id: uuid.UUID, user_id: int, payload: dict[str, Any]) -> None:
    """Push ``payload`` to one person's sockets once the transaction commits (best effort)."""
    group = user_group(company_public_id, user_id)
    message = {"type": HANDLER, "payload": payload}
    transaction.on_commit(lambda: push([group], message))
