"""Notifications: the events outbox and everything that delivers an event to someone.

An :class:`Event` is written once, in the transaction of the change it reports, under a unique
``key`` (``session.finished:<session id>``): a retried task or a re-delivered message finds the
row and writes nothing. Every delivery of an event is a row of its own, unique per event and
recipient, claimed before anything leaves the building, so nothing is sent twice.

Every model inherits its managers from ``CompanyOwned``: ``objects.for_company(company)`` (or
``for_company_id(id)`` in workers) and the greppable escape hatch ``unscoped_objects``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import CompanyOwned


class EventType(models.TextChoices):
    SESSION_FINISHED = "session.finished", _("Session finished")
    ALERT_RAISED = "alert.raised", _("Alert")
    DIGEST = "digest", _("Digest")
    WEBHOOK_TEST = "webhook.test", _("Test event")
    WEBHOOK_DISABLED = "webhook.disabled", _("Webhook endpoint disabled")


class Event(CompanyOwned):
    """Something worth telling people about, stored once (the outbox).

    ``payload`` is the event's ``data`` object; its schema is versioned by ``version`` and
    documented per type in docs/notifications.md (built in ``notifications.payloads``).
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    key = models.CharField(
        max_length=200, unique=True, help_text="What makes the event unique, e.g. session.finished:<id>."
    )
    type = models.CharField(max_length=32, choices=EventType.choices)
    version = models.PositiveSmallIntegerField(default=1)
    payload = models.JSONField(default=dict)
    # Who the event is about, for choosing recipients; not foreign keys to sessions, which
    # retention deletes while the event (and its delivery log) stays.
    session_public_id = models.UUIDField(null=True, blank=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["company", "-created_at"], name="notif_event_company_time")]

    def __str__(self) -> str:
        return self.key


class DigestFrequency(models.TextChoices):
    OFF = "off", _("Off")
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly (Mondays)")


class CompanySettings(CompanyOwned):
    """A company's notification settings; no row means every default."""

    negative_alert_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(3), MaxValueValidator(600)],
        help_text="Seconds of sustained anger, disgust or fear that raise an alert; empty: the default.",
    )
    digest = models.CharField(max_length=8, choices=DigestFrequency.choices, default=DigestFrequency.WEEKLY)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company"], name="notif_settings_one_per_company")]

    def __str__(self) -> str:
        return f"notification settings of {self.company_id}"


class Scope(models.TextChoices):
    OWN = "own", _("Only my own sessions")
    COMPANY = "company", _("Every session of the company")


class Topic(models.TextChoices):
    """What a person can subscribe to and unsubscribe from (a preference field each)."""

    SESSION_RESULTS = "session_results", _("Session results")
    ALERTS = "alerts", _("Alerts")
    DIGEST = "digest", _("Digest")


class Preference(CompanyOwned):
    """One person's notification choices in one company; no row means the defaults.

    Agents hear about their own sessions only; admins and owners choose ``scope``. The digest
    (company figures) goes to admins and owners only.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_results = models.BooleanField(_("e-mail session results"), default=True)
    alerts = models.BooleanField(_("e-mail alerts"), default=True)
    digest = models.BooleanField(_("e-mail the digest"), default=True)
    in_app_alerts = models.BooleanField(_("show alerts in the portal"), default=True)
    scope = models.CharField(_("sessions"), max_length=8, choices=Scope.choices, default=Scope.OWN)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "user"], name="notif_pref_one_per_member")]

    def __str__(self) -> str:
        return f"preferences of {self.user_id} in {self.company_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class EmailDelivery(CompanyOwned):
    """One e-mail of one event to one person: the claim that makes sending idempotent."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    topic = models.CharField(max_length=16, choices=Topic.choices, blank=True, help_text="Empty: not unsubscribable.")
    status = models.CharField(max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="When the retry sweeper may try again.")
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["event", "user"], name="notif_email_once_per_event_user")]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="notif_email_due")]

    def __str__(self) -> str:
        return f"e-mail of {self.event_id} to {self.user_id} ({self.status})"


WEBHOOK_EVENT_TYPES = (EventType.SESSION_FINISHED, EventType.ALERT_RAISED, EventType.DIGEST)
"""The events an endpoint may subscribe to (``webhook.test`` goes to the endpoint it tests)."""


class WebhookEndpoint(CompanyOwned):
    """A company's HTTPS receiver of events, signed per the Standard Webhooks specification.

    The signing secret is kept as is (HMAC needs it) and never shown after creation or
    rotation. During a rotation's grace period both the new and the previous secret sign.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="Event types delivered to this endpoint.")
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.url

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets that sign a message sent at ``now``: the current one, and the previous one in its grace."""
        found = [self.secret]
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            found.append(self.previous_secret)
        return found


class WebhookStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    SENDING = "sending", _("Sending")
    SUCCEEDED = "succeeded", _("Delivered")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled (endpoint disabled)")


class WebhookDelivery(CompanyOwned):
    """One event for one endpoint: the message (``webhook-id``) retried until it is delivered."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=WebhookStatus.choices, default=WebhookStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["endpoint", "event"], name="notif_webhook_once_per_endpoint")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notif_webhook_due"),
            models.Index(fields=["endpoint", "-created_at"], name="notif_webhook_endpoint_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id} ({self.status})"

    @property
    def message_id(self) -> str:
        """The ``webhook-id`` header: the same on every attempt, so receivers can drop repeats."""
        return f"msg_{self.public_id.hex}"


class WebhookAttempt(CompanyOwned):
    """One HTTP request of a delivery: the log shown on the endpoint's page and in the API."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="+")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=300, blank=True)
    succeeded = models.BooleanField()

    class Meta:
        ordering = ["delivery_id", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="notif_attempt_unique_number")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.status_code or self.error}"


class Notification(CompanyOwned):
    """An alert under one person's bell in the portal (pushed live over ``/ws/notifications/``)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["event", "user"], name="notif_inapp_once_per_event_user")]
        indexes = [models.Index(fields=["company", "user", "read_at"], name="notif_inapp_unread")]

    def __str__(self) -> str:
        return f"{self.event_id} for {self.user_id}"
