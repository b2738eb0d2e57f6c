"""The worker side of e-mail and webhooks: claim a delivery, send it once, record the outcome.

A delivery is claimed with a conditional update (pending, or stuck in "sending" longer than
``CLAIM_TIMEOUT`` because a worker died) before the message leaves, so two workers never send
the same e-mail. A failed send goes back to pending with ``next_attempt_at``; the sweeper
(``notifications.sweep``) re-queues it, at most ``MAX_EMAIL_ATTEMPTS`` times in all.
"""

from __future__ import annotations

import json
import logging
import random
import smtplib
from collections.abc import Callable
from datetime import datetime, timedelta

from django.core.mail import make_msgid
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from notifications import emails, outbox, payloads, queue, webhooks
from notifications.models import (
    DeliveryStatus,
    EmailDelivery,
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookStatus,
)
from notifications.payloads import envelope

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


# --- Webhooks -----------------------------------------------------------------------------------

RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
"""Wait after the 1st, 2nd, ... failed attempt of a webhook message (each ±20% jitter): eight
attempts over about 27.6 hours, then the message is given up."""
MAX_WEBHOOK_ATTEMPTS = len(RETRY_SCHEDULE) + 1
JITTER = 0.2
DISABLE_AFTER_FAILURES = 20
"""Consecutive failed attempts (across messages) after which an endpoint is disabled."""
WEBHOOK_CLAIM_TIMEOUT = timedelta(minutes=5)
SOON = timedelta(minutes=5)
"""Retries due sooner than this are queued with a countdown; later ones wait for the sweeper."""


def retry_delay(attempts: int, rand: Callable[[], float] = random.random) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: the schedule, ±``JITTER`` at random."""
    base = RETRY_SCHEDULE[min(attempts, len(RETRY_SCHEDULE)) - 1]
    return base * (1 - JITTER + 2 * JITTER * rand())


def claim_webhook(company_id: int, delivery_id: int) -> WebhookDelivery | None:
    """Take a due delivery for one attempt; None when it is not due, finished, taken or gone."""
    now = timezone.now()
    due = Q(status=WebhookStatus.PENDING) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    stuck = Q(status=WebhookStatus.SENDING, claimed_at__lt=now - WEBHOOK_CLAIM_TIMEOUT)
    taken = (
        WebhookDelivery.objects.for_company_id(company_id)
        .filter(due | stuck, pk=delivery_id)
        .update(status=WebhookStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    )
    if not taken:
        return None
    return (
        WebhookDelivery.objects.for_company_id(company_id)
        .select_related("endpoint", "event", "company")
        .get(pk=delivery_id)
    )


def deliver_webhook(company_id: int, delivery_id: int) -> None:
    """Make one attempt of a delivery and record it (steps in ``record_attempt``)."""
    delivery = claim_webhook(company_id, delivery_id)
    if delivery is None:
        return
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        WebhookDelivery.objects.for_company_id(company_id).filter(pk=delivery.pk).update(
            status=WebhookStatus.CANCELLED, finished_at=timezone.now()
        )
        return
    body = json.dumps(envelope(delivery.event, delivery.company.public_id), separators=(",", ":")).encode()
    now = timezone.now()
    signed = webhooks.headers(endpoint.signing_secrets(now), delivery.message_id, int(now.timestamp()), body)
    outcome = webhooks.post(endpoint.url, body, signed)
    record_attempt(delivery, now, outcome)


@transaction.atomic
def record_attempt(delivery: WebhookDelivery, started_at: datetime, outcome: webhooks.Outcome) -> None:
    """Log an attempt and decide what comes next.

    Steps:
    1. Append the attempt to the log (status, duration, response excerpt, error).
    2. Success: the delivery is done; the endpoint's failure count goes back to 0.
    3. Failure: the endpoint's failure count goes up; the delivery waits for its next attempt
       (``retry_delay``) or, after ``MAX_WEBHOOK_ATTEMPTS``, is given up.
    4. An endpoint reaching ``DISABLE_AFTER_FAILURES`` is disabled: its waiting deliveries are
       cancelled and its company's owners are e-mailed (a ``webhook.disabled`` event).
    """
    company_id = delivery.company_id
    WebhookAttempt.objects.create(
        company_id=company_id,
        delivery=delivery,
        number=delivery.attempts,
        started_at=started_at,
        duration_ms=outcome.duration_ms,
        status_code=outcome.status_code,
        response_excerpt=outcome.excerpt,
        error=outcome.error,
        succeeded=outcome.succeeded,
    )
    deliveries = WebhookDelivery.objects.for_company_id(company_id).filter(pk=delivery.pk)
    endpoints = WebhookEndpoint.objects.for_company_id(company_id).filter(pk=delivery.endpoint_id)
    now = timezone.now()
    if outcome.succeeded:
        deliveries.update(status=WebhookStatus.SUCCEEDED, finished_at=now)
        endpoints.update(consecutive_failures=0, last_success_at=now)
        return
    if delivery.attempts >= MAX_WEBHOOK_ATTEMPTS:
        deliveries.update(status=WebhookStatus.FAILED, finished_at=now)
    else:
        delay = retry_delay(delivery.attempts)
        deliveries.update(status=WebhookStatus.PENDING, next_attempt_at=now + delay)
        if delay <= SOON:
            countdown = delay.total_seconds()
            transaction.on_commit(lambda: queue.deliver_webhook(company_id, delivery.pk, countdown=countdown))
    endpoints.update(consecutive_failures=F("consecutive_failures") + 1, last_failure_at=now)
    endpoint = endpoints.select_for_update().get()
    if endpoint.enabled and endpoint.consecutive_failures >= DISABLE_AFTER_FAILURES:
        disable_endpoint(endpoint, outcome.error or f"HTTP {outcome.status_code}")


def disable_endpoint(endpoint: WebhookEndpoint, last_error: str) -> None:
    """Switch a failing endpoint off, cancel what waits for it and tell the owners (in a transaction)."""
    now = timezone.now()
    reason = f"{endpoint.consecutive_failures} failed attempts in a row; the last: {last_error}"[:300]
    WebhookEndpoint.objects.for_company_id(endpoint.company_id).filter(pk=endpoint.pk).update(
        enabled=False, disabled_at=now, disabled_reason=reason
    )
    WebhookDelivery.objects.for_company_id(endpoint.company_id).filter(
        endpoint=endpoint, status=WebhookStatus.PENDING
    ).update(status=WebhookStatus.CANCELLED, finished_at=now)
    outbox.record_event(
        company=endpoint.company,
        key=f"webhook.disabled:{endpoint.public_id}:{now.isoformat()}",
        type=EventType.WEBHOOK_DISABLED,
        payload=payloads.endpoint_disabled(endpoint, reason),
    )


# --- The sweeper ----------------------------------------------------------------------------------

STALE_EMAIL = timedelta(minutes=2)


def due_work(now: datetime | None = None) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(company id, delivery id) of e-mails and webhook deliveries that should be tried now.

    Pending e-mails whose retry time came, or that never got a retry time and were queued more
    than ``STALE_EMAIL`` ago (the queueing after commit was lost); webhook deliveries whose next
    attempt is due, or whose worker died in the middle.
    """
    now = now or timezone.now()
    # Across companies on purpose: the sweeper serves every tenant and only reads ids.
    emails_due = EmailDelivery.unscoped_objects.filter(
        Q(status=DeliveryStatus.PENDING)
        & (Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lt=now - STALE_EMAIL))
        | Q(status=DeliveryStatus.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT)
    ).values_list("company_id", "pk")[:1000]
    hooks_due = WebhookDelivery.unscoped_objects.filter(
        Q(status=WebhookStatus.PENDING, next_attempt_at__lte=now)
        | Q(status=WebhookStatus.PENDING, next_attempt_at__isnull=True, created_at__lt=now - STALE_EMAIL)
        | Q(status=WebhookStatus.SENDING, claimed_at__lt=now - WEBHOOK_CLAIM_TIMEOUT)
    ).values_list("company_id", "pk")[:1000]
    return list(emails_due), list(hooks_due)
