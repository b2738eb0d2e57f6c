"""The company portal: dashboard, agent home, history and its CSV, session evidence, agents."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Company, Membership, User
from evaluations.models import EvaluationSession, Status
from tests.frontend.conftest import finished

pytestmark = pytest.mark.django_db


def session_url(session: EvaluationSession, action: str = "") -> str:
    name = f"portal-session-{action}" if action else "portal-session"
    return reverse(name, kwargs={"session_id": session.public_id})


@pytest.fixture
def history(company_a: Company, company_b: Company, alice: User, bob: User, charlie: User) -> dict[str, Any]:
    now = timezone.now()
    return {
        "bob_a": finished(company_a, bob, "A", 88.0, started=now - timedelta(days=1), csat=5, customer_reference="C-1"),
        "bob_f": finished(company_a, bob, "F", 12.0, started=now - timedelta(days=2), customer_reference="C-2"),
        "alice_b": finished(company_a, alice, "B", 55.0, started=now - timedelta(days=3)),
        "alice_old": finished(company_a, alice, "D", 20.0, started=now - timedelta(days=40)),
        "insufficient": finished(company_a, bob, "insufficient_evidence", None, started=now - timedelta(days=4)),
        "charlie": finished(company_b, charlie, "A", 99.0, started=now - timedelta(days=1), customer_reference="C-1"),
    }


# --- Dashboard -----------------------------------------------------------------------------------


def test_the_dashboard_shows_the_periods_kpis_trend_and_bad_sessions(
    alice_page: Client, history: dict[str, Any]
) -> None:
    response = alice_page.get(reverse("portal"), {"period": "30"})
    assert response.status_code == 200
    kpis = response.context["kpis"]
    # Four finished sessions of company A in the last 30 days; three graded (A 88, F 12, B 55).
    assert (kpis.sessions, kpis.graded, kpis.insufficient) == (4, 3, 1)
    assert kpis.average_score == round((88 + 12 + 55) / 3, 1)
    assert kpis.df_share == pytest.approx(1 / 3)
    assert [s.public_id for s in response.context["recent_bad"]] == [history["bob_f"].public_id]
    # The previous 30 days hold the D session of 40 days ago.
    assert response.context["change"].previous.sessions == 1
    assert len(response.context["points"]) == 30
    body = response.content.decode()
    assert "<svg" in body and "Grade mix" in body


def test_the_dashboard_lists_sessions_in_progress_with_their_running_grade(
    alice_page: Client, bob_session: EvaluationSession
) -> None:
    response = alice_page.get(reverse("portal"))
    assert [s.public_id for s in response.context["live"]] == [bob_session.public_id]
    assert f'data-session="{bob_session.public_id}"' in response.content.decode()


def test_the_dashboard_never_shows_another_companys_sessions(charlie_page: Client, history: dict[str, Any]) -> None:
    response = charlie_page.get(reverse("portal"))
    assert response.context["kpis"].sessions == 1
    assert str(history["bob_f"].public_id) not in response.content.decode()


def test_the_dashboard_pins_its_query_count(alice_page: Client, history: dict[str, Any]) -> None:
    alice_page.get(reverse("portal"))  # warm per-process caches
    with CaptureQueriesContext(connection) as queries:
        assert alice_page.get(reverse("portal"), {"period": "90"}).status_code == 200
    for _ in range(20):
        finished(history["bob_a"].company, history["bob_a"].agent, "C", 30.0)
    with CaptureQueriesContext(connection) as more:
        alice_page.get(reverse("portal"), {"period": "90"})
    assert len(more) == len(queries) <= 14


def test_an_agent_lands_on_their_own_results(bob_page: Client, history: dict[str, Any]) -> None:
    response = bob_page.get(reverse("portal"))
    assert response.status_code == 200
    assert response.templates[0].name == "frontend/portal/agent_home.html"
    assert response.context["kpis"].sessions == 3  # bob's A, F and insufficient
    assert {s.agent_id for s in response.context["recent"]} == {history["bob_a"].agent_id}


def test_a_custom_period_is_validated(alice_page: Client, history: dict[str, Any]) -> None:
    response = alice_page.get(reverse("portal"), {"period": "custom", "first": "2026-05-10", "last": "2026-05-01"})
    assert response.status_code == 200
    assert "before the first" in response.context["period_error"]


def test_anonymous_visitors_are_sent_to_sign_in(client: Client) -> None:
    response = client.get(reverse("portal"))
    assert response.status_code == 302 and reverse("account_login") in response["Location"]


# --- History and CSV -----------------------------------------------------------------------------


def test_history_filters_by_grade_reference_and_dates(alice_page: Client, history: dict[str, Any]) -> None:
    def ids(**query: str) -> set[Any]:
        response = alice_page.get(reverse("portal-sessions"), query)
        assert response.status_code == 200
        return {s.public_id for s in response.context["page"]}

    assert ids(grade="F") == {history["bob_f"].public_id}
    assert ids(customer_reference="c-1") == {history["bob_a"].public_id}  # case-insensitive, own company only
    first = (timezone.now() - timedelta(days=3)).date().isoformat()
    assert history["alice_old"].public_id not in ids(first=first)
    member = Membership.objects.for_company(history["alice_b"].company).get(user=history["alice_b"].agent)
    assert ids(agent=str(member.public_id)) == {history["alice_b"].public_id, history["alice_old"].public_id}


def test_history_sorts_and_pages(alice_page: Client, history: dict[str, Any]) -> None:
    response = alice_page.get(reverse("portal-sessions"), {"sort": "-score"})
    scores = [s.score for s in response.context["page"]]
    assert scores[:4] == [88.0, 55.0, 20.0, 12.0] and scores[-1] is None  # no score sorts last
    for _ in range(30):
        finished(history["bob_a"].company, history["bob_a"].agent, "B", 50.0)
    second = alice_page.get(reverse("portal-sessions"), {"page": "2"})
    assert second.context["page"].number == 2 and len(second.context["page"]) == 35 - 25


def test_an_agent_sees_only_their_own_sessions_in_the_history(bob_page: Client, history: dict[str, Any]) -> None:
    response = bob_page.get(reverse("portal-sessions"))
    assert {s.agent_id for s in response.context["page"]} == {history["bob_a"].agent_id}
    assert "agent" not in response.context["form"].fields


def test_the_history_pins_its_query_count(alice_page: Client, history: dict[str, Any]) -> None:
    alice_page.get(reverse("portal-sessions"))
    with CaptureQueriesContext(connection) as queries:
        alice_page.get(reverse("portal-sessions"))
    for _ in range(10):
        finished(history["bob_a"].company, history["bob_a"].agent, "C", 30.0)
    with CaptureQueriesContext(connection) as more:
        alice_page.get(reverse("portal-sessions"))
    assert len(more) == len(queries) <= 10


def test_the_csv_export_is_exactly_the_filtered_list(alice_page: Client, history: dict[str, Any]) -> None:
    response = alice_page.get(reverse("portal-sessions-export"), {"grade": "F"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[attr-defined]
    assert [r["session_id"] for r in rows] == [str(history["bob_f"].public_id)]
    assert rows[0]["grade"] == "F" and rows[0]["agent"] == "bob@a.test"
    everything = alice_page.get(reverse("portal-sessions-export"))
    all_rows = list(csv.DictReader(io.StringIO(b"".join(everything.streaming_content).decode())))  # type: ignore[attr-defined]
    assert len(all_rows) == 5 and str(history["charlie"].public_id) not in {r["session_id"] for r in all_rows}


# --- Session detail and its actions --------------------------------------------------------------


def test_the_session_page_shows_the_grade_and_its_evidence(alice_page: Client, history: dict[str, Any]) -> None:
    response = alice_page.get(session_url(history["bob_a"]))
    assert response.status_code == 200
    body = response.content.decode()
    assert response.context["grade"]["letter"] == "A"
    assert "v1" in body and "<svg" in body
    assert [v for v in response.context["votes"] if v[0] == "A"] == [("A", 10)]


def test_charlie_gets_a_404_for_company_as_session_pages_and_writes_nothing(
    charlie_page: Client, history: dict[str, Any], bob_session: EvaluationSession, nothing_written: Any
) -> None:
    with nothing_written(EvaluationSession):
        assert charlie_page.get(session_url(history["bob_a"])).status_code == 404
        for action in ("finish", "cancel"):
            assert charlie_page.post(session_url(bob_session, action)).status_code == 404
        assert charlie_page.post(session_url(history["bob_a"], "csat"), {"csat": "1"}).status_code == 404


def test_an_agent_cannot_open_a_colleagues_session(bob_page: Client, history: dict[str, Any]) -> None:
    assert bob_page.get(session_url(history["alice_b"])).status_code == 404
    assert bob_page.get(session_url(history["bob_f"])).status_code == 200


def test_an_open_session_can_be_finished_from_its_page(bob_page: Client, bob_session: EvaluationSession) -> None:
    response = bob_page.post(session_url(bob_session, "finish"))
    assert response.status_code == 302
    bob_session.refresh_from_db()
    assert bob_session.status == Status.FINISHED


def test_the_customers_csat_answer_is_recorded_and_audited(bob_page: Client, history: dict[str, Any]) -> None:
    session = history["bob_f"]
    assert bob_page.post(session_url(session, "csat"), {"csat": "2"}).status_code == 302
    session.refresh_from_db()
    assert session.csat == 2 and session.csat_recorded_at is not None
    event = AuditEvent.objects.for_company(session.company).get(action="session.csat_recorded")
    assert event.metadata == {"from": None, "to": 2}
    bob_page.post(session_url(session, "csat"), {"csat": "9"})
    session.refresh_from_db()
    assert session.csat == 2


# --- Agents --------------------------------------------------------------------------------------


def test_admins_see_a_summary_per_agent(alice_page: Client, history: dict[str, Any]) -> None:
    response = alice_page.get(reverse("portal-agents"))
    assert response.status_code == 200
    by_email = {s.email: s for s in response.context["summaries"]}
    assert set(by_email) == {"alice@a.test", "bob@a.test"}
    assert by_email["bob@a.test"].grades["F"] == 1 and by_email["bob@a.test"].sessions == 3
    member = by_email["bob@a.test"].member_id
    assert alice_page.get(reverse("portal-agent", kwargs={"member_id": member})).status_code == 200


def test_agents_pages_are_for_admins(bob_page: Client, history: dict[str, Any]) -> None:
    assert bob_page.get(reverse("portal-agents")).status_code == 403


def test_charlie_cannot_see_company_as_agents(charlie_page: Client, history: dict[str, Any]) -> None:
    member = Membership.objects.for_company(history["bob_a"].company).get(user=history["bob_a"].agent)
    assert charlie_page.get(reverse("portal-agent", kwargs={"member_id": member.public_id})).status_code == 404
    charlie_sees = {s.email for s in charlie_page.get(reverse("portal-agents")).context["summaries"]}
    assert charlie_sees == {"charlie@b.test"}


def test_hidden_per_agent_views_answer_as_if_they_did_not_exist(
    alice_page: Client, company_a: Company, history: dict[str, Any]
) -> None:
    Company.objects.filter(pk=company_a.pk).update(agent_views_hidden=True)
    member = Membership.objects.for_company(company_a).get(user=history["bob_a"].agent)
    assert alice_page.get(reverse("portal-agents")).status_code == 404
    assert alice_page.get(reverse("portal-agent", kwargs={"member_id": member.public_id})).status_code == 404
    dashboard = alice_page.get(reverse("portal"))
    assert dashboard.context["coaching"] == [] and not dashboard.context["show_agents"]
    history_page = alice_page.get(reverse("portal-sessions"))
    assert "agent" not in history_page.context["form"].fields
    assert "bob@a.test" not in history_page.content.decode()


# --- Language ------------------------------------------------------------------------------------


def test_the_language_choice_is_saved_to_the_account(alice_page: Client, alice: User) -> None:
    response = alice_page.post(reverse("set-language"), {"language": "es", "next": reverse("portal")})
    assert response.status_code == 302 and response["Location"] == reverse("portal")
    alice.refresh_from_db()
    assert alice.language == "es"
    assert alice_page.post(reverse("set-language"), {"language": "xx"}).status_code == 400
    evil = alice_page.post(reverse("set-language"), {"language": "en", "next": "https://evil.test/"})
    assert evil["Location"] == reverse("home")
