"""Notification pages: preferences, alerts, settings and webhook endpoints."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Actor, AuditEvent, Company, Role, User
from evaluations import episodes
from notifications import actions
from notifications.models import (
    CompanySettings,
    Event,
    Preference,
    Scope,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from notifications.selectors import preference_for

pytestmark = pytest.mark.django_db

PREFERENCES = "/app/notifications/preferences/"


def test_a_member_saves_their_own_preferences(bob_page: Client, bob: User, company_a: Company) -> None:
    response = bob_page.post(PREFERENCES, {"alerts": "on", "in_app_alerts": "on"})
    assert response.status_code == 302
    preference = preference_for(company_a, bob)
    assert (preference.session_results, preference.alerts, preference.in_app_alerts) == (False, True, True)
    audit = AuditEvent.objects.for_company(company_a).get(action="notifications.preferences_changed")
    assert audit.metadata == {"user": "bob@a.test", "session_results": False}


def test_an_agent_is_offered_neither_the_company_scope_nor_the_digest(
    bob_page: Client, bob: User, company_a: Company
) -> None:
    page = bob_page.get(PREFERENCES).content.decode()
    assert 'name="scope"' not in page and 'name="digest"' not in page
    assert "You hear about your own sessions." in page
    bob_page.post(PREFERENCES, {"session_results": "on", "alerts": "on", "scope": "company", "digest": "on"})
    assert preference_for(company_a, bob).scope == Scope.OWN


def test_an_admin_chooses_to_follow_every_session(alice_page: Client, alice: User, company_a: Company) -> None:
    page = alice_page.get(PREFERENCES).content.decode()
    assert 'name="scope"' in page and 'name="digest"' in page
    response = alice_page.post(PREFERENCES, {"alerts": "on", "scope": "company", "digest": "on"})
    assert response.status_code == 302
    assert preference_for(company_a, alice).scope == Scope.COMPANY


def test_charlies_preferences_are_his_own_companys(
    charlie_page: Client, charlie: User, company_a: Company, company_b: Company, bob: User
) -> None:
    charlie_page.post(PREFERENCES, {"alerts": "on", "scope": "company"})
    assert not Preference.objects.for_company(company_a).exists()
    assert preference_for(company_b, charlie).scope == Scope.COMPANY


def test_preferences_need_a_sign_in(client: Client, nothing_written: Any) -> None:
    with nothing_written(Preference):
        response = client.post(PREFERENCES, {"alerts": "on"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- Company notification settings (admins) -------------------------------------------------------

NOTIFICATION_SETTINGS = "/app/settings/notifications/"
WEBHOOKS = "/app/settings/webhooks/"


def test_an_admin_sets_the_alert_threshold_and_the_digest(alice_page: Client, company_a: Company) -> None:
    page = alice_page.get(NOTIFICATION_SETTINGS).content.decode()
    assert "Empty: the default of 20 seconds." in page
    response = alice_page.post(NOTIFICATION_SETTINGS, {"negative_alert_seconds": "12", "digest": "daily"})
    assert response.status_code == 302
    saved = CompanySettings.objects.for_company(company_a).get()
    assert (saved.negative_alert_seconds, saved.digest) == (12, "daily")
    assert episodes.threshold_seconds(company_a.pk) == 12.0


def test_a_threshold_out_of_range_is_refused(alice_page: Client, nothing_written: Any) -> None:
    with nothing_written(CompanySettings):
        response = alice_page.post(NOTIFICATION_SETTINGS, {"negative_alert_seconds": "1", "digest": "daily"})
    assert response.status_code == 400


def test_agents_do_not_reach_the_admin_notification_pages(bob_page: Client, nothing_written: Any) -> None:
    with nothing_written(CompanySettings, WebhookEndpoint):
        for path in (NOTIFICATION_SETTINGS, WEBHOOKS):
            assert bob_page.get(path).status_code == 403
            assert bob_page.post(path, {"digest": "off", "url": "https://93.184.216.34/"}).status_code == 403


def test_charlies_settings_are_his_own_companys(charlie_page: Client, company_a: Company) -> None:
    charlie_page.post(NOTIFICATION_SETTINGS, {"negative_alert_seconds": "", "digest": "off"})
    assert not CompanySettings.objects.for_company(company_a).exists()


# --- Webhook endpoints (admins) -------------------------------------------------------------------


@pytest.fixture
def endpoint(alice: User, company_a: Company, settings: Any) -> WebhookEndpoint:
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    created, _ = actions.create_endpoint(
        actor=Actor(user=alice, role=Role.ADMIN), company=company_a, url="http://127.0.0.1:9/hook", events=["digest"]
    )
    return created


def test_an_admin_adds_an_endpoint_and_sees_the_secret_once(
    alice_page: Client, company_a: Company, settings: Any
) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    response = alice_page.post(WEBHOOKS, {"url": "http://127.0.0.1:9/in", "events": ["alert.raised"]})
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    endpoint = WebhookEndpoint.objects.for_company(company_a).get()
    page = response.content.decode()
    assert endpoint.secret in page and "the only time it is shown" in page
    listed = alice_page.get(WEBHOOKS).content.decode()
    assert "http://127.0.0.1:9/in" in listed and endpoint.secret not in listed


def test_an_endpoint_on_a_private_address_is_refused_on_the_page(alice_page: Client, nothing_written: Any) -> None:
    with nothing_written(WebhookEndpoint):
        response = alice_page.post(WEBHOOKS, {"url": "https://10.0.0.5/in", "events": ["alert.raised"]})
    assert response.status_code == 400
    assert "not a public internet address" in response.content.decode()


def test_an_admin_edits_tests_rotates_and_deletes_an_endpoint(
    alice_page: Client, endpoint: WebhookEndpoint, company_a: Company
) -> None:
    detail = f"{WEBHOOKS}{endpoint.public_id}/"
    assert alice_page.get(detail).status_code == 200
    response = alice_page.post(
        detail, {"url": endpoint.url, "description": "BI", "events": ["digest", "session.finished"], "enabled": "on"}
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.description, endpoint.events) == ("BI", ["session.finished", "digest"])
    assert alice_page.post(f"{detail}test/").status_code == 302
    page = alice_page.get(detail).content.decode()
    assert "webhook.test" in page
    rotated = alice_page.post(f"{detail}rotate/")
    endpoint.refresh_from_db()
    assert rotated.status_code == 200 and rotated["Cache-Control"] == "no-store"
    assert endpoint.secret in rotated.content.decode() and endpoint.previous_secret not in rotated.content.decode()
    assert alice_page.post(f"{detail}delete/").status_code == 302
    assert not WebhookEndpoint.objects.for_company(company_a).exists()


def test_the_delivery_log_page_costs_the_same_queries_however_long_it_is(
    alice_page: Client, endpoint: WebhookEndpoint, alice: User
) -> None:
    def add(n: int) -> None:
        for _ in range(n):
            delivery = actions.send_test_event(actor=Actor(user=alice, role=Role.ADMIN), endpoint=endpoint)
            WebhookAttempt.objects.create(
                company=endpoint.company, delivery=delivery, number=1, started_at=delivery.created_at,
                duration_ms=5, status_code=500, succeeded=False, error="HTTP 500",
            )  # fmt: skip

    detail = f"{WEBHOOKS}{endpoint.public_id}/"
    add(1)
    alice_page.get(detail)
    with CaptureQueriesContext(connection) as few:
        alice_page.get(detail)
    add(4)
    with CaptureQueriesContext(connection) as many:
        page = alice_page.get(detail).content.decode()
    assert page.count("HTTP 500") >= 5
    assert len(many) == len(few) <= 10


@pytest.mark.parametrize("suffix", ["", "test/", "rotate/", "delete/"])
def test_another_companys_endpoint_is_a_404_and_nothing_is_written(
    suffix: str, charlie_page: Client, endpoint: WebhookEndpoint, nothing_written: Any
) -> None:
    path = f"{WEBHOOKS}{endpoint.public_id}/{suffix}"
    with nothing_written(WebhookEndpoint, WebhookDelivery, Event):
        if not suffix:
            assert charlie_page.get(path).status_code == 404
        assert charlie_page.post(path, {"url": "https://93.184.216.34/", "events": ["digest"]}).status_code == 404


@pytest.mark.parametrize("suffix", ["", "test/", "rotate/", "delete/"])
def test_an_agent_cannot_touch_an_endpoint(
    suffix: str, bob_page: Client, endpoint: WebhookEndpoint, nothing_written: Any
) -> None:
    with nothing_written(WebhookEndpoint, WebhookDelivery, Event):
        assert bob_page.post(f"{WEBHOOKS}{endpoint.public_id}/{suffix}").status_code == 403
