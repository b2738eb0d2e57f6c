"""Data rights in the portal: the export button, erasing a customer and deleting a session."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager

from django.test import Client

from accounts.models import AuditEvent, Company, User
from evaluations.models import EvaluationSession
from tests.evaluations.conftest import EVALUATION_MODELS, start
from tests.frontend.conftest import finished, page_client

Nothing = Callable[..., AbstractContextManager[None]]
SETTINGS, EXPORT, ERASE = "/app/settings/", "/app/settings/export/", "/app/settings/erase-customer/"


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


def test_an_owner_downloads_the_export_from_the_company_settings_page(
    owner: User, bob: User, company_a: Company
) -> None:
    finished(company_a, bob, "B", 60.0, customer_reference="CRM-1")
    client = page_client(owner)
    page = client.get(SETTINGS).content.decode()
    assert f'action="{EXPORT}"' in page and "Download the export" in page
    response = client.post(EXPORT)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))  # type: ignore[attr-defined]
    assert b"CRM-1" in archive.read("sessions.json")
    assert AuditEvent.objects.for_company(company_a).filter(action="company.exported").count() == 1


def test_an_admin_sees_no_export_button_and_cannot_export(alice_page: Client, nothing_written: Nothing) -> None:
    page = alice_page.get(SETTINGS).content.decode()
    assert f'action="{EXPORT}"' not in page and "Only an owner can export" in page
    assert f'action="{ERASE}"' in page  # admins may erase a customer
    with nothing_written(*EVALUATION_MODELS):
        assert alice_page.post(EXPORT).status_code == 403


def test_agents_reach_none_of_the_data_rights_pages(
    bob_page: Client, bob: User, company_a: Company, nothing_written: Nothing
) -> None:
    own = finished(company_a, bob, "B", 60.0, customer_reference="CRM-2")
    assert "Delete this session" not in bob_page.get(f"/app/sessions/{own.public_id}/").content.decode()
    with nothing_written(*EVALUATION_MODELS):
        assert bob_page.post(EXPORT).status_code == 403
        assert bob_page.post(ERASE, {"customer_reference": "CRM-2", "confirm": "on"}).status_code == 403
        assert bob_page.get(f"/app/sessions/{own.public_id}/delete/").status_code == 403
        assert bob_page.post(f"/app/sessions/{own.public_id}/delete/").status_code == 403


def test_an_admin_erases_a_customer_from_the_settings_page(alice_page: Client, bob: User, company_a: Company) -> None:
    finished(company_a, bob, "B", 60.0, customer_reference="CRM-3")
    finished(company_a, bob, "C", 40.0, customer_reference="crm-3")
    kept = finished(company_a, bob, "A", 90.0, customer_reference="CRM-33")
    response = alice_page.post(ERASE, {"customer_reference": "CRM-3", "confirm": "on"}, follow=True)
    assert response.redirect_chain[-1][0] == SETTINGS
    assert "2 sessions deleted" in messages_of(response)
    assert list(EvaluationSession.objects.for_company(company_a).values_list("pk", flat=True)) == [kept.pk]
    assert AuditEvent.objects.for_company(company_a).filter(action="customer.erased").count() == 1


def test_erasing_needs_the_box_ticked_and_an_existing_reference(
    alice_page: Client, bob: User, company_a: Company, nothing_written: Nothing
) -> None:
    finished(company_a, bob, "B", 60.0, customer_reference="CRM-4")
    with nothing_written(*EVALUATION_MODELS):
        unticked = alice_page.post(ERASE, {"customer_reference": "CRM-4"}, follow=True)
        unknown = alice_page.post(ERASE, {"customer_reference": "NOBODY", "confirm": "on"}, follow=True)
    assert "Tick the box to confirm the erasure." in messages_of(unticked)
    assert "No session or audit entry of your company has this customer reference." in messages_of(unknown)


def test_charlie_can_neither_erase_nor_delete_what_company_a_holds(
    charlie_page: Client, bob: User, company_a: Company, nothing_written: Nothing
) -> None:
    session = finished(company_a, bob, "B", 60.0, customer_reference="CRM-5")
    with nothing_written(*EVALUATION_MODELS):
        erased = charlie_page.post(ERASE, {"customer_reference": "CRM-5", "confirm": "on"}, follow=True)
        assert charlie_page.get(f"/app/sessions/{session.public_id}/delete/").status_code == 404
        assert charlie_page.post(f"/app/sessions/{session.public_id}/delete/").status_code == 404
    assert "No session or audit entry" in messages_of(erased)


def test_an_admin_deletes_a_session_after_confirming(alice_page: Client, bob: User, company_a: Company) -> None:
    session = finished(company_a, bob, "D", 30.0, customer_reference="CRM-6")
    detail = alice_page.get(f"/app/sessions/{session.public_id}/").content.decode()
    assert f'href="/app/sessions/{session.public_id}/delete/"' in detail
    confirm = alice_page.get(f"/app/sessions/{session.public_id}/delete/")
    assert confirm.status_code == 200 and "Delete the session?" in confirm.content.decode()
    assert EvaluationSession.objects.for_company(company_a).filter(pk=session.pk).exists()  # GET asks only
    response = alice_page.post(f"/app/sessions/{session.public_id}/delete/", follow=True)
    assert response.redirect_chain[-1][0] == "/app/sessions/"
    assert "The session is deleted" in messages_of(response)
    assert not EvaluationSession.objects.for_company(company_a).filter(pk=session.pk).exists()
    assert AuditEvent.objects.for_company(company_a).filter(action="session.deleted").count() == 1


def test_a_running_session_is_not_deleted(
    alice_page: Client, bob: User, company_a: Company, nothing_written: Nothing
) -> None:
    running = start(bob, company_a)
    assert "Delete this session" not in alice_page.get(f"/app/sessions/{running.public_id}/").content.decode()
    with nothing_written(*EVALUATION_MODELS):
        page = alice_page.get(f"/app/sessions/{running.public_id}/delete/").content.decode()
        response = alice_page.post(f"/app/sessions/{running.public_id}/delete/", follow=True)
    assert "still running" in page and 'type="submit"' not in page.split("delete-title", 1)[1]
    assert "still running" in messages_of(response)
