"""Consent receipts: every live session records which camera notice was shown, by whom and how."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import AuditEvent, Company, Membership, User
from evaluations.models import Channel, ConsentReceipt, EvaluationSession
from tests.evaluations.conftest import EVALUATION_MODELS, start
from tests.factories import IssuedToken
from tests.frontend.conftest import page_client

pytestmark = pytest.mark.django_db

Nothing = Callable[..., AbstractContextManager[None]]
API = "/api/v1/sessions/"


def receipt_of(session_id: str, company: Company) -> ConsentReceipt:
    session = EvaluationSession.objects.for_company(company).get(public_id=session_id)
    return ConsentReceipt.objects.for_company(company).get(session=session)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_live_session_started_on_the_agent_page_gets_a_receipt_of_the_notice_shown(
    bob_client: APIClient, company_a: Company
) -> None:
    company_a.consent_notice = "Acme reads facial expressions; no image is kept.\nAsk us to stop at any time."
    company_a.save()

    response = bob_client.post(API, {"channel": "live", "notice_shown": True, "notice_version": 1}, format="json")

    assert response.status_code == 201, response.content
    receipt = receipt_of(response.json()["id"], company_a)
    assert receipt.notice_version == 1
    assert receipt.notice_text == company_a.consent_notice
    assert receipt.notice_sha256 == sha256(company_a.consent_notice)
    assert (receipt.confirmed_by, receipt.channel) == ("bob@a.test", "signed_in")
    assert receipt.confirmed_by_user is not None and receipt.confirmed_by_user.email == "bob@a.test"
    body = response.json()["consent_receipt"]
    assert body == {
        "notice_version": 1,
        "notice_sha256": sha256(company_a.consent_notice),
        "notice_text": company_a.consent_notice,
        "confirmed_at": body["confirmed_at"],
        "confirmed_by": "bob@a.test",
        "channel": "signed_in",
    }
    assert bob_client.get(f"{API}{response.json()['id']}/").json()["consent_receipt"] == body
    event = AuditEvent.objects.for_company(company_a).get(action="session.started")
    assert event.metadata["notice_shown"] is True


def test_an_api_token_confirming_the_notice_is_named_on_the_receipt(
    token_a_client: APIClient, token_a: IssuedToken, bob: User, company_a: Company
) -> None:
    bob_id = str(Membership.objects.for_company(company_a).get(user=bob).public_id)
    response = token_a_client.post(API, {"channel": "live", "agent": bob_id, "notice_shown": True}, format="json")
    assert response.status_code == 201, response.content
    receipt = receipt_of(response.json()["id"], company_a)
    assert receipt.channel == "api_token" and receipt.confirmed_by == f"token:{token_a.token.display_prefix}"
    assert receipt.confirmed_by_user is None


def test_a_new_notice_text_takes_the_next_version_and_a_stale_page_is_refused(
    owner_client: APIClient, bob_client: APIClient, company_a: Company, nothing_written: Nothing
) -> None:
    owner_client.patch("/api/v1/company/", {"consent_notice": "Version two of our notice."}, format="json")
    company_a.refresh_from_db()
    assert company_a.consent_notice_version == 2

    # The agent's page was loaded before the change: the customer saw version 1.
    with nothing_written(*EVALUATION_MODELS):
        stale = bob_client.post(API, {"channel": "live", "notice_shown": True, "notice_version": 1}, format="json")
    assert stale.status_code == 409
    assert stale.json()["code"] == "notice_changed" and "version 1 shown, version 2 now" in stale.json()["detail"]

    fresh = bob_client.post(API, {"channel": "live", "notice_shown": True, "notice_version": 2}, format="json")
    assert fresh.status_code == 201
    receipt = receipt_of(fresh.json()["id"], company_a)
    assert (receipt.notice_version, receipt.notice_sha256) == (2, sha256("Version two of our notice."))


def test_a_receipt_stands_alone_after_the_notice_changes(
    bob: User, alice_client: APIClient, company_a: Company
) -> None:
    session = start(bob, company_a)
    original = company_a.consent_notice
    alice_client.patch("/api/v1/company/", {"consent_notice": "Something else entirely."}, format="json")
    receipt = ConsentReceipt.objects.for_company(company_a).get(session=session)
    assert (receipt.notice_version, receipt.notice_text, receipt.notice_sha256) == (1, original, sha256(original))


@pytest.mark.parametrize("channel", [Channel.IMAGES, Channel.VIDEO, Channel.API])
def test_uploads_are_not_camera_sessions_and_have_no_receipt(
    bob_client: APIClient, company_a: Company, channel: str
) -> None:
    response = bob_client.post(API, {"channel": channel}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["consent_receipt"] is None
    assert not ConsentReceipt.objects.for_company(company_a).exists()


def test_the_session_page_shows_the_receipt(alice: User, bob: User, company_a: Company) -> None:
    session = start(bob, company_a)
    receipt = ConsentReceipt.objects.for_company(company_a).get(session=session)
    body = page_client(alice).get(reverse("portal-session", kwargs={"session_id": session.public_id})).content.decode()
    assert "Consent receipt" in body and "version 1" in body
    assert receipt.notice_sha256 in body and "bob@a.test" in body
    assert "Signed-in member (agent page)" in body


def test_the_session_page_of_an_upload_shows_no_receipt(alice: User, bob: User, company_a: Company) -> None:
    session = start(bob, company_a, channel=Channel.IMAGES)
    body = page_client(alice).get(reverse("portal-session", kwargs={"session_id": session.public_id})).content.decode()
    assert "Consent receipt" not in body


def test_the_export_holds_every_receipt(owner_client: APIClient, bob: User, company_a: Company) -> None:
    session = start(bob, company_a)
    response = owner_client.post("/api/v1/company/export/")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))  # type: ignore[attr-defined]
    (row,) = list(csv.DictReader(io.StringIO(archive.read("consent_receipts.csv").decode())))
    assert row["session_id"] == str(session.public_id)
    assert row["notice_sha256"] == sha256(company_a.consent_notice) and row["notice_version"] == "1"
    assert row["confirmed_by"] == "bob@a.test" and row["channel"] == "signed_in"


def test_a_notice_saved_on_the_settings_page_takes_the_next_version(alice: User, company_a: Company) -> None:
    data: dict[str, Any] = {
        "name": company_a.name,
        "time_zone": company_a.time_zone,
        "retention_days": company_a.retention_days,
        "consent_notice": "A new notice from the settings page.",
    }
    page_client(alice).post(reverse("portal-settings"), data)
    company_a.refresh_from_db()
    assert (company_a.consent_notice, company_a.consent_notice_version) == ("A new notice from the settings page.", 2)
    event = AuditEvent.objects.for_company(company_a).get(action="company.settings_updated")
    assert event.metadata["consent_notice_version"] == 2
