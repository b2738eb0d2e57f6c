"""Signed one-click unsubscribe links (RFC 8058) that work without signing in.

A token names a person, a company and a topic, signed with ``SECRET_KEY`` (``django.core.signing``
with its own salt). It does not expire: an old e-mail's link must still work. It can only turn a
topic off, which the person can undo on the preferences page.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core import signing
from django.urls import reverse

from notifications.models import Topic
from notifications.payloads import absolute_url

SALT = "notifications.unsubscribe"


@dataclass(frozen=True)
class Subscription:
    user_id: int
    company_id: int
    topic: str


def make_token(user_id: int, company_id: int, topic: str) -> str:
    return signing.dumps([user_id, company_id, topic], salt=SALT, compress=True)


def read_token(token: str) -> Subscription | None:
    """The subscription a token names, or None for a forged, damaged or unknown one."""
    try:
        user_id, company_id, topic = signing.loads(token, salt=SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(user_id, int) or not isinstance(company_id, int) or topic not in Topic.values:
        return None
    return Subscription(user_id=user_id, company_id=company_id, topic=topic)


def unsubscribe_url(user_id: int, company_id: int, topic: str) -> str:
    return absolute_url(reverse("notifications-unsubscribe", kwargs={"token": make_token(user_id, company_id, topic)}))
