"""Notification pages: preferences, alerts, settings and webhook endpoints."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import AuditEvent, Company, User
from notifications.models import Preference, Scope
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
