"""The audit log is append-only and company-scoped."""

from __future__ import annotations

import pytest

from accounts import actions
from accounts.models import Actor, AuditEvent, Role

URL = "/api/v1/audit-events/"


def _event(company) -> AuditEvent:
    actions.update_company_settings(actor=Actor(role=Role.OWNER), company=company, changes={"retention_days": 10})
    return AuditEvent.objects.for_company(company).get(action="company.settings_updated")


def test_an_audit_event_cannot_be_changed(company_a) -> None:
    event = _event(company_a)
    event.action = "something.else"
    with pytest.raises(TypeError, match="append-only"):
        event.save()


def test_an_audit_event_cannot_be_deleted(company_a) -> None:
    event = _event(company_a)
    with pytest.raises(TypeError, match="append-only"):
        event.delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.for_company(company_a).delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.unscoped_objects.filter(pk=event.pk).update(action="x")
    assert AuditEvent.unscoped_objects.filter(pk=event.pk, action="company.settings_updated").exists()


def test_alice_reads_her_companys_audit_log(alice_client, company_a, bob) -> None:
    alice_client.post("/api/v1/tokens/", {"name": "n", "scope": "read"}, format="json")
    response = alice_client.get(URL)
    assert response.status_code == 200
    actions_seen = [e["action"] for e in response.json()["results"]]
    assert actions_seen[0] == "api_token.created"
    assert response.json()["results"][0]["actor"] == "alice@a.test"


def test_bob_the_agent_cannot_read_the_audit_log(bob_client) -> None:
    assert bob_client.get(URL).status_code == 403


def test_charlie_sees_none_of_company_as_audit_events(alice_client, charlie_client) -> None:
    alice_client.post("/api/v1/tokens/", {"name": "n", "scope": "read"}, format="json")
    results = charlie_client.get(URL).json()["results"]
    assert all(e["action"] != "api_token.created" for e in results)


def test_listing_the_audit_log_takes_a_fixed_number_of_queries(alice_client, django_assert_num_queries) -> None:
    for n in range(8):
        alice_client.post("/api/v1/tokens/", {"name": f"n{n}", "scope": "read"}, format="json")
    with django_assert_num_queries(5):
        response = alice_client.get(URL)
    assert response.json()["count"] == 8


def test_the_database_itself_refuses_to_change_audit_rows(company_a) -> None:
    from django.db import connection, transaction
    from django.db.utils import ProgrammingError

    if connection.vendor != "postgresql":
        pytest.skip("the trigger exists in PostgreSQL only")
    event = _event(company_a)
    for sql in (
        "UPDATE accounts_auditevent SET action = 'x' WHERE id = %s",
        "DELETE FROM accounts_auditevent WHERE id = %s",
    ):
        with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    assert AuditEvent.unscoped_objects.filter(pk=event.pk, action="company.settings_updated").exists()
