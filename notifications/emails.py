"""Render an event as an e-mail to one person: HTML and plain text, in their language.

Templates: ``notifications/email/<event type with _>_subject.txt``, ``.txt`` and ``.html``, each
extending the shared ``base``. Times are shown in the company's time zone. Unsubscribable
e-mails carry RFC 8058 one-click headers (``List-Unsubscribe`` and ``List-Unsubscribe-Post``)
and the same link in their footer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from evaluations.analytics import company_zone
from notifications.models import EmailDelivery, Event, EventType
from notifications.payloads import absolute_url
from notifications.unsubscribe import unsubscribe_url

_TIME_KEYS = frozenset({"timestamp", "day", "first", "last"})


def _parse_times(value: Any) -> Any:
    """Turn the payload's ISO dates and times back into objects, for the templates' date filters."""
    if isinstance(value, dict):
        return {
            k: (_parse_time(v) if k.endswith("_at") or k in _TIME_KEYS else _parse_times(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_parse_times(v) for v in value]
    return value


def _parse_time(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    # A date ("2026-11-23") stays a date: a naive midnight would read as a time.
    return parsed.date() if len(value) == 10 else parsed


def template_base(event: Event) -> str:
    return "notifications/email/" + event.type.replace(".", "_")


def build(delivery: EmailDelivery) -> EmailMultiAlternatives:
    """The message of ``delivery`` (its event, company and user must be loaded)."""
    event, user, company = delivery.event, delivery.user, delivery.company
    unsubscribe = unsubscribe_url(user.pk, company.pk, delivery.topic) if delivery.topic else ""
    context = {
        "event": event,
        "data": _parse_times(event.payload),
        "company": company,
        "user": user,
        "unsubscribe_url": unsubscribe,
        "preferences_url": absolute_url(reverse("notifications-preferences")),
        "site_url": settings.SITE_URL,
    }
    if event.type == EventType.DIGEST:
        context["trend_max"] = max([p["sessions"] for p in event.payload.get("trend", [])] or [0]) or 1
    base = template_base(event)
    with translation.override(user.language or settings.LANGUAGE_CODE), timezone.override(company_zone(company)):
        subject = " ".join(render_to_string(base + "_subject.txt", context).split())
        text = render_to_string(base + ".txt", context)
        html = render_to_string(base + ".html", context)
    headers = {"Auto-Submitted": "auto-generated"}
    if unsubscribe:
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message = EmailMultiAlternatives(
        subject=f"[MoodSaaS] {subject}",
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers=headers,
    )
    message.attach_alternative(html, "text/html")
    return message
