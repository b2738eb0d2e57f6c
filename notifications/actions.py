"""Every state change people make to notifications: atomic, audited, fan-out on commit.

Preferences (each person's own), the company's notification settings (admins), unsubscribing
from a signed link, in-app alerts read, and webhook endpoints (admins).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.actions import audit
from accounts.exceptions import ActionError, ActionForbidden
from accounts.models import Actor, Company, Role, User
from evaluations import episodes
from evaluations.protocol import company_public_id
from notifications import outbox, payloads, protocol, queue, selectors, webhooks
from notifications.models import (
    WEBHOOK_EVENT_TYPES,
    CompanySettings,
    EventType,
    Notification,
    Preference,
    Scope,
    Topic,
    WebhookDelivery,
    WebhookEndpoint,
)

PREFERENCE_FIELDS = ("session_results", "alerts", "digest", "in_app_alerts", "scope")
COMPANY_SETTING_FIELDS = ("negative_alert_seconds", "digest")


def _require_role(actor: Actor, role: Role, refusal: str) -> None:
    """``refusal`` is the whole sentence, translated: word order differs between languages."""
    if actor.role is not None and not actor.role.at_least(role):
        raise ActionForbidden(refusal, code="role")


def _locked_preference(company: Company, user: User) -> Preference:
    preference, _ = (
        Preference.objects.for_company(company).select_for_update().get_or_create(company=company, user=user)
    )
    return preference


@transaction.atomic
def update_preferences(*, actor: Actor, company: Company, changes: Mapping[str, Any]) -> Preference:
    """Change the acting person's own preferences in ``company`` (unknown fields are refused)."""
    if actor.user is None:
        raise ActionForbidden(gettext("Preferences belong to a person; API tokens have none."), code="person")
    unknown = set(changes) - set(PREFERENCE_FIELDS)
    if unknown:
        raise ActionError(f"Unknown preferences: {', '.join(sorted(unknown))}.", code="unknown")
    if changes.get("scope", Scope.OWN) not in Scope.values:
        raise ActionError(gettext("Scope is “own” or “company”."), code="scope")
    if changes.get("scope") == Scope.COMPANY:
        _require_role(actor, Role.ADMIN, gettext("Only an admin or higher can follow every session of the company."))
    preference = _locked_preference(company, actor.user)
    before = {field: getattr(preference, field) for field in PREFERENCE_FIELDS}
    for field, value in changes.items():
        setattr(preference, field, value)
    after = {field: getattr(preference, field) for field in PREFERENCE_FIELDS}
    if after != before:
        preference.save()
        changed = {f: after[f] for f in PREFERENCE_FIELDS if after[f] != before[f]}
        audit(actor, company, "notifications.preferences_changed", preference, {"user": actor.user.email, **changed})
    return preference


@transaction.atomic
def unsubscribe(*, company: Company, user: User, topic: str) -> Preference:
    """Turn ``topic`` off for ``user`` (a signed one-click link; no sign-in). Idempotent."""
    if topic not in Topic.values:
        raise ActionError(f"Unknown topic {topic!r}.", code="topic")
    preference = _locked_preference(company, user)
    if getattr(preference, topic):
        setattr(preference, topic, False)
        preference.save(update_fields=[topic, "updated_at"])
        audit(Actor(user=user), company, "notifications.unsubscribed", preference, {"user": user.email, "topic": topic})
    return preference


@transaction.atomic
def update_company_settings(*, actor: Actor, company: Company, changes: Mapping[str, Any]) -> CompanySettings:
    """Change the company's alert threshold or digest frequency (admins and owners)."""
    _require_role(actor, Role.ADMIN, gettext("Only an admin or higher can change notification settings."))
    unknown = set(changes) - set(COMPANY_SETTING_FIELDS)
    if unknown:
        raise ActionError(f"Unknown settings: {', '.join(sorted(unknown))}.", code="unknown")
    current, _ = CompanySettings.objects.for_company(company).select_for_update().get_or_create(company=company)
    before = {field: getattr(current, field) for field in COMPANY_SETTING_FIELDS}
    for field, value in changes.items():
        setattr(current, field, value)
    current.clean_fields()  # field validators; uniqueness is the database constraint's job
    after = {field: getattr(current, field) for field in COMPANY_SETTING_FIELDS}
    if after != before:
        current.save()
        audit(actor, company, "notifications.settings_changed", current, {"from": before, "to": after})
        transaction.on_commit(lambda: episodes.forget_threshold(company.pk))
    return current


# --- Webhook endpoints ----------------------------------------------------------------------------

ROTATION_GRACE = timedelta(hours=24)
"""How long the previous secret still signs after a rotation (receivers switch within it)."""


def _check_endpoint(url: str, events: Sequence[str]) -> list[str]:
    try:
        webhooks.check_url(url)
    except webhooks.UnsafeURL as refused:
        raise ActionError(str(refused), code="url") from None
    unknown = set(events) - set(WEBHOOK_EVENT_TYPES)
    if unknown:
        raise ActionError(f"Unknown event types: {', '.join(sorted(unknown))}.", code="events")
    if not events:
        raise ActionError(gettext("Choose at least one event type."), code="events")
    return [t for t in WEBHOOK_EVENT_TYPES if t in events]


@transaction.atomic
def create_endpoint(
    *, actor: Actor, company: Company, url: str, events: Sequence[str], description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; return it with its signing secret (shown this once)."""
    _require_role(actor, Role.ADMIN, gettext("Only an admin or higher can manage webhooks."))
    chosen = _check_endpoint(url, events)
    secret = webhooks.new_secret()
    endpoint = WebhookEndpoint.objects.create(
        company=company,
        url=url,
        events=chosen,
        description=description.strip(),
        secret=secret,
        created_by=actor.user,
    )
    audit(actor, company, "webhook.created", endpoint, {"url": url, "events": chosen})
    return endpoint, secret


def _lock_endpoint(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    return WebhookEndpoint.objects.for_company_id(endpoint.company_id).select_for_update().get(pk=endpoint.pk)


@transaction.atomic
def update_endpoint(*, actor: Actor, endpoint: WebhookEndpoint, changes: Mapping[str, Any]) -> WebhookEndpoint:
    """Change an endpoint's URL, events, description, or switch it on or off.

    Switching a disabled endpoint back on clears its failure count; what was cancelled while it
    was off is not re-sent.
    """
    _require_role(actor, Role.ADMIN, gettext("Only an admin or higher can manage webhooks."))
    unknown = set(changes) - {"url", "events", "description", "enabled"}
    if unknown:
        raise ActionError(f"Unknown fields: {', '.join(sorted(unknown))}.", code="unknown")
    locked = _lock_endpoint(endpoint)
    before = {"url": locked.url, "events": locked.events, "description": locked.description, "enabled": locked.enabled}
    url = changes.get("url", locked.url)
    events = changes.get("events", locked.events)
    if "url" in changes or "events" in changes:
        events = _check_endpoint(url, events)
    locked.url, locked.events = url, events
    locked.description = str(changes.get("description", locked.description)).strip()
    if "enabled" in changes and bool(changes["enabled"]) != locked.enabled:
        locked.enabled = bool(changes["enabled"])
        if locked.enabled:
            locked.consecutive_failures = 0
            locked.disabled_at, locked.disabled_reason = None, ""
        else:
            locked.disabled_at, locked.disabled_reason = timezone.now(), "switched off by an admin"
    after = {"url": locked.url, "events": locked.events, "description": locked.description, "enabled": locked.enabled}
    if after != before:
        locked.save()
        audit(actor, locked.company, "webhook.updated", locked, {"from": before, "to": after})
    return locked


@transaction.atomic
def delete_endpoint(*, actor: Actor, endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint with its delivery log."""
    _require_role(actor, Role.ADMIN, gettext("Only an admin or higher can manage webhooks."))
    locked = _lock_endpoint(endpoint)
    audit(actor, locked.company, "webhook.deleted", locked, {"url": locked.url})
    locked.delete()


@transaction.atomic
def rotate_secret(*, actor: Actor, endpoint: WebhookEndpoint) -> tuple[WebhookEndpoint, str]:
    """Give the endpoint a new secret; the old one keeps signing for ``ROTATION_GRACE``. Return the new one."""
    _require_role(actor, Role.ADMIN, gettext("Only an admin or higher can manage webhooks."))
    locked = _lock_endpoint(endpoint)
    secret = webhooks.new_secret()
    locked.previous_secret = locked.secret
    locked.previous_secret_expires_at = timezone.now() + ROTATION_GRACE
    locked.secret = secret
    locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    audit(
        actor,
        locked.company,
        "webhook.secret_rotated",
        locked,
        {"previous_secret_expires_at": locked.previous_secret_expires_at.isoformat()},
    )
    return locked, secret


@transaction.atomic
def send_test_event(*, actor: Actor, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a ``webhook.test`` event to this endpoint only (also when it is disabled, to check a fix)."""
    _require_role(actor, Role.ADMIN, gettext("Only an admin or higher can manage webhooks."))
    locked = _lock_endpoint(endpoint)
    event = outbox.record_event(
        company=locked.company,
        key=f"webhook.test:{locked.public_id}:{uuid.uuid4().hex}",
        type=EventType.WEBHOOK_TEST,
        payload=payloads.test_event(),
    )
    assert event is not None  # a fresh key
    delivery = WebhookDelivery.objects.create(company=locked.company, endpoint=locked, event=event)
    audit(actor, locked.company, "webhook.test_sent", locked, {"event": str(event.public_id)})
    transaction.on_commit(lambda: queue.deliver_webhook(locked.company_id, delivery.pk))
    return delivery


# --- In-app alerts ------------------------------------------------------------------------------
# Reading an alert is a person's own bookkeeping, not a change to the company's data: it is not
# written to the audit log (which would fill with it).


@transaction.atomic
def mark_read(*, actor: Actor, notification: Notification) -> Notification:
    """Mark one of the acting person's alerts read (idempotent) and update their other tabs."""
    if actor.user is None or notification.user_id != actor.user.pk:
        raise ActionForbidden(gettext("Only the person an alert is for can mark it read."), code="owner")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        Notification.objects.for_company_id(notification.company_id).filter(
            pk=notification.pk, read_at__isnull=True
        ).update(read_at=notification.read_at)
        _push_unread(notification.company_id, actor.user.pk)
    return notification


@transaction.atomic
def mark_all_read(*, actor: Actor, company: Company) -> int:
    """Mark every alert of the acting person in ``company`` read; return how many changed."""
    if actor.user is None:
        raise ActionForbidden("Alerts belong to a person; API tokens have none.", code="person")
    changed = (
        Notification.objects.for_company(company)
        .filter(user=actor.user, read_at__isnull=True)
        .update(read_at=timezone.now())
    )
    if changed:
        _push_unread(company.pk, actor.user.pk)
    return changed


def _push_unread(company_id: int, user_id: int) -> None:
    protocol.send_on_commit(
        company_public_id(company_id), user_id, protocol.unread(selectors.unread_count(company_id, user_id))
    )
