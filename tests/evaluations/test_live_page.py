"""The agent's live evaluation page, server side: who may open it and what it promises."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import AuditEvent, Company, User
from evaluations.models import EvaluationSession
from tests.evaluations.conftest import EVALUATION_MODELS

pytestmark = pytest.mark.django_db


def page(user: User | None) -> tuple[int, str]:
    client = Client()
    if user is not None:
        client.force_login(user)
    response = client.get(reverse("live-session"))
    return response.status_code, response.content.decode()


def test_signed_out_visitors_are_sent_to_sign_in() -> None:
    client = Client()
    response = client.get(reverse("live-session"))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_the_page_shows_the_agents_own_companys_notice_and_keeps_the_camera_behind_a_confirmation(
    bob: User, company_a: Company, company_b: Company
) -> None:
    company_a.consent_notice = "Acme records this call's facial expressions."
    company_a.retention_days = 30
    company_a.save()
    company_b.consent_notice = "Globex notice, never shown to Acme agents."
    company_b.save()

    status, html = page(bob)

    assert status == 200
    assert "Acme records this call&#x27;s facial expressions." in html
    assert "Globex" not in html
    assert "kept for 30 days" in html
    assert "no camera image is stored" in html
    # The start button stays disabled until the agent confirms the notice was shown.
    assert 'id="consent"' in html
    assert 'id="start" disabled' in html
    assert "frontend/live.js" in html


def test_the_home_page_links_to_the_live_page(bob: User) -> None:
    client = Client()
    client.force_login(bob)
    assert f'href="{reverse("live-session")}"' in client.get(reverse("company")).content.decode()


def test_a_user_without_a_company_is_sent_home_with_an_explanation(db: None) -> None:
    loner = User.objects.create_user(email="loner@example.test", password="x" * 12)
    client = Client()
    client.force_login(loner)
    response = client.get(reverse("live-session"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("home")
    assert "Join a company before running evaluations." in response.content.decode()


def test_starting_a_session_after_the_notice_is_recorded_in_the_audit_trail(
    bob_client: APIClient, company_a: Company
) -> None:
    response = bob_client.post("/api/v1/sessions/", {"channel": "live", "notice_shown": True}, format="json")
    assert response.status_code == 201, response.content
    session = EvaluationSession.objects.for_company(company_a).get(public_id=response.json()["id"])
    event = AuditEvent.objects.for_company(company_a).get(action="session.started", target_id=str(session.public_id))
    assert event.metadata["notice_shown"] is True


@pytest.mark.parametrize("body", [{"channel": "live"}, {"channel": "live", "notice_shown": False}, {}])
def test_a_live_session_without_the_notice_is_refused_and_nothing_is_written(
    bob_client: APIClient, company_a: Company, nothing_written: Any, body: dict[str, Any]
) -> None:
    with nothing_written(*EVALUATION_MODELS):
        response = bob_client.post("/api/v1/sessions/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "notice_not_shown"


def test_the_page_hands_its_notice_version_to_the_script(bob: User, company_a: Company) -> None:
    company_a.consent_notice_version = 4
    company_a.save()
    _status, html = page(bob)
    assert '"noticeVersion": 4' in html


def test_pages_allow_the_camera_to_our_own_origin_only(bob: User) -> None:
    client = Client()
    client.force_login(bob)
    policy = client.get(reverse("live-session"))["Permissions-Policy"]
    assert "camera=(self)" in policy
    assert "microphone=()" in policy and "geolocation=()" in policy
