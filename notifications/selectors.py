"""Reads of notifications: preferences with their defaults, and who hears about an event."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import QuerySet

from accounts.models import Company, Membership, Role, User
from notifications.models import Event, EventType, Notification, Preference, Scope, Topic

TOPIC_OF_EVENT = {
    EventType.SESSION_FINISHED: Topic.SESSION_RESULTS,
    EventType.ALERT_RAISED: Topic.ALERTS,
    EventType.DIGEST: Topic.DIGEST,
}


def preference_for(company: Company, user: User) -> Preference:
    """``user``'s preferences in ``company``: their row, or an unsaved one holding the defaults."""
    found = Preference.objects.for_company(company).filter(user=user).first()
    return found or Preference(company=company, user=user)


@dataclass(frozen=True)
class Recipient:
    user: User
    role: Role
    preference: Preference


def _members(company: Company) -> Iterator[Recipient]:
    """Active members of ``company`` with their preferences (two queries)."""
    preferences = {p.user_id: p for p in Preference.objects.for_company(company)}
    memberships = Membership.objects.for_company(company).select_related("user").filter(user__is_active=True)
    for membership in memberships:
        user = membership.user
        preference = preferences.get(user.pk) or Preference(company=company, user=user)
        yield Recipient(user=user, role=membership.role_enum, preference=preference)


def concerns(event: Event, recipient: Recipient) -> bool:
    """Whether a session event is about ``recipient``: their own session, or company-wide by choice.

    Agents hear about their own sessions only; admins and owners also about everyone's when
    their scope is the company.
    """
    if event.agent_id is not None and event.agent_id == recipient.user.pk:
        return True
    return recipient.role.at_least(Role.ADMIN) and recipient.preference.scope == Scope.COMPANY


def email_recipients(event: Event) -> list[tuple[User, str]]:
    """Who gets ``event`` by e-mail, each with the topic they could unsubscribe from ("" for none)."""
    company = event.company
    found: list[tuple[User, str]] = []
    for recipient in _members(company):
        if event.type == EventType.WEBHOOK_DISABLED:
            if recipient.role == Role.OWNER:
                found.append((recipient.user, ""))
            continue
        topic = TOPIC_OF_EVENT.get(EventType(event.type))
        if topic is None or not getattr(recipient.preference, topic):
            continue
        if event.type == EventType.DIGEST:
            if recipient.role.at_least(Role.ADMIN):
                found.append((recipient.user, topic))
        elif concerns(event, recipient):
            found.append((recipient.user, topic))
    return found


def in_app_recipients(event: Event) -> list[User]:
    """Who sees ``event`` under the portal's alert bell: alerts, with the e-mail's scope."""
    if event.type != EventType.ALERT_RAISED:
        return []
    return [r.user for r in _members(event.company) if r.preference.in_app_alerts and concerns(event, r)]


def unread_count(company_id: int, user_id: int) -> int:
    return Notification.objects.for_company_id(company_id).filter(user_id=user_id, read_at__isnull=True).count()


def notifications_of(company: Company, user: User) -> QuerySet[Notification]:
    """One person's alerts in ``company``, newest first (with their events: one query)."""
    return Notification.objects.for_company(company).filter(user=user).select_related("event")
