"""Events follow the company's retention period, with everything that hangs off them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import AuditEvent, Company, User
from evaluations.models import EvaluationSession
from notifications import retention
from notifications.models import EmailDelivery, Event, Notification, WebhookAttempt, WebhookDelivery
from tests.notifications.conftest import Receiver, feed, frames, start

pytestmark = pytest.mark.django_db


def test_events_older_than_the_retention_period_go_with_their_deliveries_and_alerts(
    receiver: Receiver, alice: User, bob: User, company_a: Company, company_b: Company, committed: Any
) -> None:
    from tests.notifications.test_webhooks import endpoint_for

    endpoint_for(receiver, alice, company_a)
    old, recent = start(bob, company_a), start(bob, company_a)
    committed(feed, old, frames("angry", seconds=22))
    committed(feed, recent, frames("angry", seconds=22))
    assert Event.objects.for_company(company_a).count() == 2
    company_a.retention_days = 30
    company_a.save()
    Event.objects.for_company(company_a).filter(session_public_id=old.public_id).update(
        created_at=timezone.now() - timedelta(days=31)
    )
    assert retention.purge_expired_events() == {"acme-support": 1}
    (kept,) = Event.objects.for_company(company_a)
    assert kept.session_public_id == recent.public_id
    for model in (EmailDelivery, Notification, WebhookDelivery, WebhookAttempt):
        assert model.objects.for_company(company_a).count() == 1, model
    assert AuditEvent.objects.for_company(company_a).filter(action="notifications.purged").count() == 1
    assert retention.purge_expired_events() == {}


def test_nothing_recent_is_purged(bob_session: EvaluationSession, company_a: Company, committed: Any) -> None:
    committed(feed, bob_session, frames("angry", seconds=22))
    assert retention.purge_expired_events() == {}
    assert Event.objects.for_company(company_a).count() == 1
