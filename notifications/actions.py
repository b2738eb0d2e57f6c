"""Every state change people make to notifications: atomic, audited, fan-out on commit.

Preferences (each person's own), the company's notification settings (admins), unsubscribing
from a signed link, in-app alerts read, and webhook endpoints (admins).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from accounts.actions import audit
from accounts.exceptions import ActionError, ActionForbidden
from accounts.models import Actor, Company, Role, User
from evaluations import episodes
from notifications.models import CompanySettings, Preference, Scope, Topic

PREFERENCE_FIELDS = ("session_results", "alerts", "digest", "in_app_alerts", "scope")
COMPANY_SETTING_FIELDS = ("negative_alert_seconds", "digest")


def _require_role(actor: Actor, role: Role, what: str) -> None:
    if actor.role is not None and not actor.role.at_least(role):
        raise ActionForbidden(f"Only an {role.label.lower()} or higher can {what}.", code="role")


def _locked_preference(company: Company, user: User) -> Preference:
    preference, _ = (
        Preference.objects.for_company(company).select_for_update().get_or_create(company=company, user=user)
    )
    return preference


@transaction.atomic
def update_preferences(*, actor: Actor, company: Company, changes: Mapping[str, Any]) -> Preference:
    """Change the acting person's own preferences in ``company`` (unknown fields are refused)."""
    if actor.user is None:
        raise ActionForbidden("Preferences belong to a person; API tokens have none.", code="person")
    unknown = set(changes) - set(PREFERENCE_FIELDS)
    if unknown:
        raise ActionError(f"Unknown preferences: {', '.join(sorted(unknown))}.", code="unknown")
    if changes.get("scope", Scope.OWN) not in Scope.values:
        raise ActionError("Scope is “own” or “company”.", code="scope")
    if changes.get("scope") == Scope.COMPANY:
        _require_role(actor, Role.ADMIN, "follow every session of the company")
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
    _require_role(actor, Role.ADMIN, "change notification settings")
    unknown = set(changes) - set(COMPANY_SETTING_FIELDS)
    if unknown:
        raise ActionError(f"Unknown settings: {', '.join(sorted(unknown))}.", code="unknown")
    current, _ = CompanySettings.objects.for_company(company).select_for_update().get_or_create(company=company)
    before = {field: getattr(current, field) for field in COMPANY_SETTING_FIELDS}
    for field, value in changes.items():
        setattr(current, field, value)
    current.full_clean()
    after = {field: getattr(current, field) for field in COMPANY_SETTING_FIELDS}
    if after != before:
        current.save()
        audit(actor, company, "notifications.settings_changed", current, {"from": before, "to": after})
        transaction.on_commit(lambda: episodes.forget_threshold(company.pk))
    return current
