"""The worker side of e-mail: claim a delivery, send it once, record the outcome.

A delivery is claimed with a conditional update (pending, or stuck in "sending" longer than
``CLAIM_TIMEOUT`` because a worker died) before the message leaves, so two workers never send
the same e-mail. A failed send goes back to pending with ``next_attempt_at``; the sweeper
(``notifications.sweep``) re-queues it, at most ``MAX_EMAIL_ATTEMPTS`` times in all.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

from django.core.mail import make_msgid
from django.db.models import F, Q
from django.utils import timezone

from notifications import emails
from notifications.models import DeliveryStatus, EmailDelivery

log = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=10)
MAX_EMAIL_ATTEMPTS = 4
EMAIL_RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=10), timedelta(hours=1))
"""Wait before the 2nd, 3rd and 4th attempt of an e-mail the SMTP server refused."""


def claim_email(company_id: int, delivery_id: int) -> EmailDelivery | None:
    """Take ``delivery_id`` for sending; None when it is sent, failed, taken or gone."""
    now = timezone.now()
    claimable = Q(status=DeliveryStatus.PENDING) | Q(status=DeliveryStatus.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT)
    taken = (
        EmailDelivery.objects.for_company_id(company_id)
        .filter(claimable, pk=delivery_id)
        .update(status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    )
    if not taken:
        return None
    return (
        EmailDelivery.objects.for_company_id(company_id).select_related("event", "user", "company").get(pk=delivery_id)
    )


def send_email(company_id: int, delivery_id: int) -> None:
    """Send one claimed e-mail and record what happened (see the module docstring)."""
    delivery = claim_email(company_id, delivery_id)
    if delivery is None:
        return
    deliveries = EmailDelivery.objects.for_company_id(company_id).filter(pk=delivery.pk)
    if not delivery.user.is_active or not delivery.user.email:
        deliveries.update(status=DeliveryStatus.FAILED, error="the recipient has no active account")
        return
    message = emails.build(delivery)
    message_id = make_msgid(domain="moodsaas")
    message.extra_headers["Message-ID"] = message_id
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
        if delivery.attempts >= MAX_EMAIL_ATTEMPTS:
            log.warning("e-mail %s failed for good: %s", delivery.pk, error)
            deliveries.update(status=DeliveryStatus.FAILED, error=error)
        else:
            delay = EMAIL_RETRY_DELAYS[min(delivery.attempts, len(EMAIL_RETRY_DELAYS)) - 1]
            deliveries.update(status=DeliveryStatus.PENDING, error=error, next_attempt_at=timezone.now() + delay)
        return
    deliveries.update(status=DeliveryStatus.SENT, sent_at=timezone.now(), message_id=message_id, error="")
