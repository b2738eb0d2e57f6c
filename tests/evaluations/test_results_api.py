"""The results API: CSAT answers on sessions, a period's summary, per-agent results."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Company, User
from evaluations.models import EvaluationSession
from tests.evaluations.conftest import start
from tests.frontend.conftest import finished

pytestmark = pytest.mark.django_db

SUMMARY, AGENTS = "/api/v1/results/summary/", "/api/v1/results/agents/"


def csat_url(session: EvaluationSession) -> str:
    return f"/api/v1/sessions/{session.public_id}/csat/"


@pytest.fixture
def sessions(company_a: Company, company_b: Company, alice: User, bob: User, charlie: User) -> dict[str, Any]:
    now = timezone.now()
    return {
        "bob_a": finished(company_a, bob, "A", 90.0, started=now - timedelta(days=1)),
        "bob_f": finished(company_a, bob, "F", 10.0, started=now - timedelta(days=2)),
        "alice_b": finished(company_a, alice, "B", 50.0, started=now - timedelta(days=3)),
        "charlie": finished(company_b, charlie, "C", 30.0, started=now - timedelta(days=1)),
    }


def test_an_agent_records_the_customers_csat_for_their_finished_session(
    bob_client: APIClient, sessions: dict[str, Any]
) -> None:
    response = bob_client.post(csat_url(sessions["bob_a"]), {"csat": 4}, format="json")
    assert response.status_code == 200 and response.json()["csat"] == 4
    assert bob_client.post(csat_url(sessions["bob_a"]), {"csat": None}, format="json").json()["csat"] is None


def test_a_csat_outside_1_to_5_is_a_400_and_an_open_session_a_409(
    bob_client: APIClient, bob: User, company_a: Company, sessions: dict[str, Any]
) -> None:
    assert bob_client.post(csat_url(sessions["bob_a"]), {"csat": 6}, format="json").status_code == 400
    running = start(bob, company_a)
    response = bob_client.post(csat_url(running), {"csat": 3}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "not_finished"


def test_charlie_and_a_colleague_cannot_record_csat_and_nothing_is_written(
    charlie_client: APIClient, bob_client: APIClient, sessions: dict[str, Any], nothing_written: Any
) -> None:
    with nothing_written(EvaluationSession):
        assert charlie_client.post(csat_url(sessions["bob_a"]), {"csat": 1}, format="json").status_code == 404
        assert bob_client.post(csat_url(sessions["alice_b"]), {"csat": 1}, format="json").status_code == 404


def test_a_read_token_cannot_record_csat(read_token_a_client: APIClient, sessions: dict[str, Any]) -> None:
    assert read_token_a_client.post(csat_url(sessions["bob_a"]), {"csat": 5}, format="json").status_code == 403


def test_the_summary_is_the_companys_for_admins_and_tokens_and_an_agents_own_for_agents(
    alice_client: APIClient, bob_client: APIClient, read_token_a_client: APIClient, sessions: dict[str, Any]
) -> None:
    company = alice_client.get(SUMMARY, {"period": "7"}).json()
    assert company["kpis"]["sessions"] == 3 and company["kpis"]["grades"]["F"] == 1
    assert company["kpis"]["average_score"] == 50.0 and len(company["trend"]) == 7
    assert read_token_a_client.get(SUMMARY, {"period": "7"}).json()["kpis"] == company["kpis"]
    own = bob_client.get(SUMMARY, {"period": "7"}).json()
    assert own["kpis"]["sessions"] == 2 and own["kpis"]["grades"]["B"] == 0


def test_the_summary_refuses_an_impossible_period(alice_client: APIClient, sessions: dict[str, Any]) -> None:
    response = alice_client.get(SUMMARY, {"period": "custom", "first": "2026-05-10", "last": "2026-05-01"})
    assert response.status_code == 400 and "period" in response.json()


def test_charlie_sees_only_his_companys_summary_and_agents(charlie_client: APIClient, sessions: dict[str, Any]) -> None:
    assert charlie_client.get(SUMMARY, {"period": "7"}).json()["kpis"]["sessions"] == 1
    assert [row["email"] for row in charlie_client.get(AGENTS).json()] == ["charlie@b.test"]


def test_per_agent_results_are_for_admins_and_tokens(
    alice_client: APIClient, bob_client: APIClient, read_token_a_client: APIClient, sessions: dict[str, Any]
) -> None:
    rows = {row["email"]: row for row in alice_client.get(AGENTS, {"period": "30"}).json()}
    assert set(rows) == {"alice@a.test", "bob@a.test"}
    assert rows["bob@a.test"]["grades"]["F"] == 1 and rows["bob@a.test"]["sessions"] == 2
    assert read_token_a_client.get(AGENTS).status_code == 200
    assert bob_client.get(AGENTS).status_code == 403


def test_hidden_per_agent_views_make_the_agents_endpoint_a_404(
    alice_client: APIClient, read_token_a_client: APIClient, company_a: Company, sessions: dict[str, Any]
) -> None:
    Company.objects.filter(pk=company_a.pk).update(agent_views_hidden=True)
    assert alice_client.get(AGENTS).status_code == 404
    assert read_token_a_client.get(AGENTS).status_code == 404
