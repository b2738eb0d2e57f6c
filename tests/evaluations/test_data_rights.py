"""Data rights through the REST API on PostgreSQL: delete a session, erase a customer (with the
audit log's redaction path and its trigger), export a company's data."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.actions import audit
from accounts.models import Actor, AuditEvent, Company, Role, User
from evaluations import actions
from evaluations.models import EvaluationSession, Observation, SessionFrame, Status
from notifications.models import Event, EventType
from tests.evaluations.conftest import EVALUATION_MODELS, start
from tests.frontend.conftest import finished

pytestmark = pytest.mark.usefixtures("needs_services")

Nothing = Callable[..., AbstractContextManager[None]]
WATCHED = (*EVALUATION_MODELS, Event)


def observed(session: EvaluationSession, frames: int = 2) -> EvaluationSession:
    """Give a session a frame ledger and one observed face per frame, as the worker would."""
    for sequence in range(1, frames + 1):
        SessionFrame.objects.create(
            company=session.company,
            session=session,
            sequence=sequence,
            captured_at=session.started_at,
            offset_seconds=sequence / 2,
            outcome="processed",
            faces=1,
        )
        Observation.objects.create(
            company=session.company,
            session=session,
            frame_sequence=sequence,
            captured_at=session.started_at,
            offset_seconds=sequence / 2,
            face_index=0,
            is_primary=True,
            box_x=10,
            box_y=20,
            box_w=100,
            box_h=100,
            detection_score=0.99,
            angry=0.0,
            disgust=0.0,
            fear=0.0,
            happy=0.9,
            sad=0.0,
            surprise=0.05,
            neutral=0.05,
            dominant="happy",
            model_version="tiny-eval",
        )
    return session


def event_about(session: EvaluationSession, **payload: Any) -> Event:
    return Event.objects.create(
        company=session.company,
        key=f"session.finished:{session.public_id}",
        type=EventType.SESSION_FINISHED,
        payload={"session": {"id": str(session.public_id), "customer_reference": session.customer_reference}} | payload,
        session_public_id=session.public_id,
    )


def rows_of(model: type[Any], company: Company, **filters: Any) -> int:
    return int(model.objects.for_company(company).filter(**filters).count())


# --- Deleting one session ----------------------------------------------------------------------------


def test_an_admin_deletes_a_finished_session_with_everything_recorded_about_it(
    alice_client: APIClient, bob: User, company_a: Company, django_capture_on_commit_callbacks: Any
) -> None:
    session = observed(finished(company_a, bob, "B", 60.0, customer_reference="CRM-7"))
    kept = observed(finished(company_a, bob, "A", 90.0))
    event_about(session)
    video = session.video_path
    video.parent.mkdir(parents=True, exist_ok=True)
    video.write_bytes(b"a waiting video")
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.delete(f"/api/v1/sessions/{session.public_id}/")
    assert response.status_code == 204, response.content
    assert not EvaluationSession.objects.for_company(company_a).filter(pk=session.pk).exists()
    assert rows_of(Observation, company_a, session_id=session.pk) == 0
    assert rows_of(SessionFrame, company_a, session_id=session.pk) == 0
    assert rows_of(Event, company_a, session_public_id=session.public_id) == 0
    assert not video.exists()
    assert rows_of(Observation, company_a, session=kept) == 2  # the other session is untouched
    entry = AuditEvent.objects.for_company(company_a).get(action="session.deleted")
    assert entry.target_id == str(session.public_id) and entry.actor_label == "alice@a.test"
    assert "CRM-7" not in json.dumps(entry.metadata)
    assert alice_client.get(f"/api/v1/sessions/{session.public_id}/").status_code == 404


def test_a_read_write_token_may_delete_but_not_a_running_session(
    token_a_client: APIClient, bob: User, company_a: Company, nothing_written: Nothing
) -> None:
    done = finished(company_a, bob, "C", 40.0)
    assert token_a_client.delete(f"/api/v1/sessions/{done.public_id}/").status_code == 204
    running = start(bob, company_a)
    with nothing_written(*WATCHED):
        response = token_a_client.delete(f"/api/v1/sessions/{running.public_id}/")
    assert response.status_code == 409 and response.json()["code"] == "active"


def test_agents_and_read_only_tokens_cannot_delete_sessions(
    bob_client: APIClient, read_token_a_client: APIClient, bob: User, company_a: Company, nothing_written: Nothing
) -> None:
    own = finished(company_a, bob, "F", 10.0)
    with nothing_written(*WATCHED):
        assert bob_client.delete(f"/api/v1/sessions/{own.public_id}/").status_code == 403
        assert read_token_a_client.delete(f"/api/v1/sessions/{own.public_id}/").status_code == 403


def test_charlie_cannot_delete_a_session_of_company_a(
    charlie_client: APIClient, token_b_client: APIClient, bob: User, company_a: Company, nothing_written: Nothing
) -> None:
    session = observed(finished(company_a, bob, "B", 60.0))
    with nothing_written(*WATCHED):
        assert charlie_client.delete(f"/api/v1/sessions/{session.public_id}/").status_code == 404
        assert token_b_client.delete(f"/api/v1/sessions/{session.public_id}/").status_code == 404


# --- Erasing one customer ---------------------------------------------------------------------------


def test_erasing_a_customer_deletes_their_sessions_and_takes_the_reference_out_of_the_audit_log(
    alice: User, alice_client: APIClient, bob: User, company_a: Company, django_capture_on_commit_callbacks: Any
) -> None:
    bob_actor = Actor(user=bob, role=Role.AGENT)
    lived = actions.start_session(
        actor=bob_actor, company=company_a, agent=bob, customer_reference="CRM-42", notice_shown=True
    )
    actions.finish_session(actor=bob_actor, session=lived)
    observed(lived)
    other_case = observed(finished(company_a, bob, "B", 60.0, customer_reference="crm-42"))
    neighbour = observed(finished(company_a, bob, "A", 90.0, customer_reference="CRM-421"))
    event_about(other_case)
    digest = Event.objects.create(
        company=company_a,
        key="digest:test",
        type=EventType.DIGEST,
        payload={"sessions": [{"customer_reference": "CRM-42"}, {"customer_reference": "CRM-421"}]},
    )
    noted = audit(Actor(user=alice, role=Role.ADMIN), company_a, "note.added", company_a, {"note": "Call CRM-42 back"})
    started_rows = AuditEvent.objects.for_company(company_a).filter(action="session.started").count()

    # The list filter finds exactly this customer's sessions (whole reference, any case).
    listed = alice_client.get("/api/v1/sessions/", {"customer_reference": "crm-42"}).json()["results"]
    assert {row["id"] for row in listed} == {str(lived.public_id), str(other_case.public_id)}

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post("/api/v1/customers/erase/", {"customer_reference": " CRM-42 "})
    assert response.status_code == 200, response.content
    assert response.json() == {"sessions_deleted": 2, "audit_events_redacted": 1}

    assert alice_client.get("/api/v1/sessions/", {"customer_reference": "CRM-42"}).json()["results"] == []
    assert list(EvaluationSession.objects.for_company(company_a).values_list("pk", flat=True)) == [neighbour.pk]
    assert rows_of(Observation, company_a) == 2 and rows_of(SessionFrame, company_a) == 2  # the neighbour's
    assert rows_of(Event, company_a, session_public_id=other_case.public_id) == 0
    digest.refresh_from_db()
    assert digest.payload["sessions"] == [{"customer_reference": "[erased]"}, {"customer_reference": "CRM-421"}]

    # The audit log keeps what happened, not whom it happened to.
    log = AuditEvent.objects.for_company(company_a)
    assert log.filter(action="session.started").count() == started_rows
    redacted = log.get(pk=noted.pk)
    assert redacted.metadata == {"note": "Call [erased] back"}
    assert (redacted.action, redacted.actor_label, redacted.created_at) == (
        noted.action,
        noted.actor_label,
        noted.created_at,
    )
    erased = log.get(action="customer.erased")
    assert erased.metadata["sessions"] == 2
    assert set(erased.metadata["session_ids"]) == {str(lived.public_id), str(other_case.public_id)}
    everything = json.dumps(list(log.values_list("metadata", flat=True)))
    assert not re.search(r"(?<![\w])crm-42(?![\w])", everything, re.IGNORECASE)


def test_the_audit_log_stays_append_only_outside_the_redaction_path(alice: User, company_a: Company) -> None:
    entry = audit(Actor(user=alice, role=Role.ADMIN), company_a, "note.added", company_a, {"note": "x"})
    table = AuditEvent._meta.db_table
    statements = [
        (f"UPDATE {table} SET metadata = '{{}}' WHERE id = %s", []),
        (f"DELETE FROM {table} WHERE id = %s", []),
        # Even on the redaction path, only the metadata may change.
        (f"UPDATE {table} SET action = 'forged', metadata = '{{}}' WHERE id = %s", ["on"]),
        (f"DELETE FROM {table} WHERE id = %s", ["on"]),
    ]
    for sql, setting in statements:
        with transaction.atomic(), connection.cursor() as cursor:
            if setting:
                cursor.execute("SET LOCAL moodsaas.audit_redaction = 'on'")
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                cursor.execute(sql, [entry.pk])
    assert AuditEvent.objects.for_company(company_a).get(pk=entry.pk).metadata == {"note": "x"}


def test_erasing_is_refused_while_a_session_runs_and_404s_for_an_unknown_reference(
    alice_client: APIClient, bob: User, company_a: Company, nothing_written: Nothing
) -> None:
    actions.start_session(
        actor=Actor(user=bob, role=Role.AGENT),
        company=company_a,
        agent=bob,
        customer_reference="CRM-9",
        notice_shown=True,
    )
    with nothing_written(*WATCHED):
        busy = alice_client.post("/api/v1/customers/erase/", {"customer_reference": "CRM-9"})
        unknown = alice_client.post("/api/v1/customers/erase/", {"customer_reference": "NOBODY"})
        empty = alice_client.post("/api/v1/customers/erase/", {"customer_reference": "  "})
    assert (busy.status_code, busy.json()["code"]) == (409, "active")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert empty.status_code == 400


def test_agents_and_read_only_tokens_cannot_erase(
    bob_client: APIClient, read_token_a_client: APIClient, bob: User, company_a: Company, nothing_written: Nothing
) -> None:
    finished(company_a, bob, "B", 60.0, customer_reference="CRM-5")
    with nothing_written(*WATCHED):
        assert bob_client.post("/api/v1/customers/erase/", {"customer_reference": "CRM-5"}).status_code == 403
        assert read_token_a_client.post("/api/v1/customers/erase/", {"customer_reference": "CRM-5"}).status_code == 403


def test_charlie_cannot_erase_a_customer_of_company_a(
    charlie_client: APIClient, bob: User, company_a: Company, nothing_written: Nothing
) -> None:
    observed(finished(company_a, bob, "B", 60.0, customer_reference="CRM-5"))
    with nothing_written(*WATCHED):
        response = charlie_client.post("/api/v1/customers/erase/", {"customer_reference": "CRM-5"})
    assert response.status_code == 404


# --- Exporting a company's data ----------------------------------------------------------------------


def export_of(client: APIClient) -> zipfile.ZipFile:
    response = client.post("/api/v1/company/export/")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="moodsaas-')
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))  # type: ignore[attr-defined]


def csv_rows(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(archive.read(name).decode())))


def test_an_owner_exports_the_company_as_a_zip_of_json_and_csv(
    owner_client: APIClient, bob: User, company_a: Company, charlie: User, company_b: Company
) -> None:
    first = observed(finished(company_a, bob, "B", 61.5, customer_reference="=HYPERLINK(1)", csat=4), frames=3)
    second = finished(company_a, bob, "A", 92.0)
    observed(finished(company_b, charlie, "F", 5.0, customer_reference="B-SECRET"))
    archive = export_of(owner_client)

    assert set(archive.namelist()) == {
        "manifest.json", "sessions.json", "sessions.csv", "grades.csv", "observations.csv", "frames.csv",
        "consent_receipts.csv", "stored_frames.csv", "members.csv", "audit.json", "audit.csv",
    }  # fmt: skip
    sessions = json.loads(archive.read("sessions.json"))
    assert {s["id"] for s in sessions} == {str(first.public_id), str(second.public_id)}
    one = next(s for s in sessions if s["id"] == str(first.public_id))
    assert one["customer_reference"] == "=HYPERLINK(1)" and one["csat"] == 4
    assert one["grade"]["letter"] == "B" and one["final_grade"]["timeline"]
    assert csv_rows(archive, "sessions.csv")[0]["customer_reference"] in ("'=HYPERLINK(1)", "")
    assert {row["customer_reference"] for row in csv_rows(archive, "sessions.csv")} == {"'=HYPERLINK(1)", ""}
    grades = {row["session_id"]: row for row in csv_rows(archive, "grades.csv")}
    assert grades[str(second.public_id)]["letter"] == "A"
    observations = csv_rows(archive, "observations.csv")
    assert len(observations) == 3 and float(observations[0]["happy"]) == 0.9
    assert len(csv_rows(archive, "frames.csv")) == 3
    assert {row["email"] for row in csv_rows(archive, "members.csv")} == {"owner@a.test", "bob@a.test"}
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["company"]["id"] == str(company_a.public_id)
    assert manifest["files"]["observations.csv"]["rows"] == 3
    everything = b"".join(archive.read(name) for name in archive.namelist())
    assert b"B-SECRET" not in everything and b"charlie" not in everything

    entry = AuditEvent.objects.for_company(company_a).get(action="company.exported")
    assert entry.actor_label == "owner@a.test" and entry.metadata["rows"]["sessions.json"] == 2
    assert not AuditEvent.objects.for_company(company_b).filter(action="company.exported").exists()


def test_the_exports_query_count_does_not_grow_with_its_rows(
    owner_client: APIClient, bob: User, company_a: Company
) -> None:
    observed(finished(company_a, bob, "B", 60.0))
    export_of(owner_client)  # the first request of a session also loads and saves the session
    with CaptureQueriesContext(connection) as small:
        export_of(owner_client)
    for _ in range(4):
        observed(finished(company_a, bob, "C", 40.0, customer_reference=str(uuid.uuid4())), frames=3)
    with CaptureQueriesContext(connection) as large:
        export_of(owner_client)
    assert len(large.captured_queries) == len(small.captured_queries)


def test_only_an_owner_signed_in_may_export(
    alice_client: APIClient,
    bob_client: APIClient,
    token_a_client: APIClient,
    bob: User,
    company_a: Company,
    nothing_written: Nothing,
) -> None:
    finished(company_a, bob, "B", 60.0)
    with nothing_written(*WATCHED):
        assert alice_client.post("/api/v1/company/export/").status_code == 403
        assert bob_client.post("/api/v1/company/export/").status_code == 403
        assert token_a_client.post("/api/v1/company/export/").status_code == 403


def test_charlies_export_holds_nothing_of_company_a(
    charlie_client: APIClient, bob: User, company_a: Company, charlie: User, company_b: Company
) -> None:
    observed(finished(company_a, bob, "B", 60.0, customer_reference="A-ONLY"))
    before = AuditEvent.objects.for_company(company_a).count()
    archive = export_of(charlie_client)
    everything = b"".join(archive.read(name) for name in archive.namelist())
    assert b"A-ONLY" not in everything and b"a.test" not in everything
    assert json.loads(archive.read("sessions.json")) == []
    assert AuditEvent.objects.for_company(company_a).count() == before


def test_a_running_session_is_exported_with_its_status(owner_client: APIClient, bob: User, company_a: Company) -> None:
    running = start(bob, company_a)
    sessions = json.loads(export_of(owner_client).read("sessions.json"))
    assert [(s["id"], s["status"]) for s in sessions] == [(str(running.public_id), Status.OPEN)]
    assert timezone.now()  # exported without freezing or touching the running session
