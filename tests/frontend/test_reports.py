"""Reports: a session's and a period's, as CSV and PDF (frontend/views/reports.py, frontend/pdf.py)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from accounts.models import Company, User
from evaluations import grading
from evaluations.models import EvaluationSession
from frontend import pdf
from tests.frontend.conftest import finished

pytestmark = pytest.mark.django_db

ZONE = "America/New_York"


def session_report(session: EvaluationSession, kind: str) -> str:
    return reverse(f"portal-session-report-{kind}", kwargs={"session_id": session.public_id})


def period_report(kind: str) -> str:
    return reverse(f"portal-period-report-{kind}")


def csv_of(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def text_of(response: Any) -> str:
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    return "\n".join(page.extract_text() for page in reader.pages)


def lang_of(response: Any) -> str:
    """The document language WeasyPrint took from ``<html lang>``."""
    return str(PdfReader(io.BytesIO(response.content)).root_object["/Lang"])


@pytest.fixture
def history(company_a: Company, company_b: Company, alice: User, bob: User, charlie: User) -> dict[str, Any]:
    Company.objects.filter(pk=company_a.pk).update(time_zone=ZONE)
    company_a.refresh_from_db()
    now = timezone.now()
    timeline = [
        {"start_seconds": 0, "end_seconds": 10, "frames": 6, "score": 40.0, "letter": "C",
         "emotion_counts": dict.fromkeys(grading.EMOTIONS, 0) | {"sad": 6}},
        {"start_seconds": 10, "end_seconds": 20, "frames": 4, "score": 92.5, "letter": "A",
         "emotion_counts": dict.fromkeys(grading.EMOTIONS, 0) | {"happy": 4}},
    ]  # fmt: skip
    bob_a = finished(
        company_a, bob, "A", 88.0, started=now - timedelta(days=1), csat=5, customer_reference="C-1",
        trajectory="recovered", timeline=timeline,
    )  # fmt: skip
    bob_a.final_grade = (bob_a.final_grade or {}) | {
        "trajectory": {"kind": "recovered", "start_score": 40.0, "end_score": 92.5}
    }
    bob_a.save(update_fields=["final_grade"])
    return {
        "bob_a": bob_a,
        "bob_f": finished(company_a, bob, "F", 12.0, started=now - timedelta(days=2), customer_reference="C-2"),
        "alice_b": finished(company_a, alice, "B", 55.0, started=now - timedelta(days=3)),
        "alice_old": finished(company_a, alice, "D", 20.0, started=now - timedelta(days=40)),
        "insufficient": finished(company_a, bob, "insufficient_evidence", None, started=now - timedelta(days=4)),
        "charlie": finished(company_b, charlie, "A", 99.0, started=now - timedelta(days=1), customer_reference="C-9"),
    }


# --- Session report ------------------------------------------------------------------------------


def test_the_session_csv_holds_the_sessions_facts_in_the_company_time_zone(
    alice_page: Client, history: dict[str, Any]
) -> None:
    session = history["bob_a"]
    response = alice_page.get(session_report(session, "csv"))
    [row] = csv_of(response)
    assert row["session_id"] == str(session.public_id)
    assert row["started_at"] == timezone.localtime(session.started_at, ZoneInfo(ZONE)).isoformat(timespec="seconds")
    assert row["time_zone"] == ZONE and row["agent"] == "bob@a.test" and row["customer_reference"] == "C-1"
    assert (row["grade"], row["score"], row["confidence"], row["csat"]) == ("A", "88.0", "0.8", "5")
    assert (row["rubric_version"], row["status"], row["channel"]) == ("1", "finished", "live")
    assert (row["frames_received"], row["frames_processed"], row["frames_dropped"]) == ("12", "10", "2")
    assert row["share_happy"] == "1.0" and row["votes_A"] == "10" and row["votes_F"] == "0"
    assert f'filename="session-{str(session.public_id)[:8]}-facts.csv"' in response["Content-Disposition"]


def test_the_session_timeline_csv_has_one_row_per_interval(alice_page: Client, history: dict[str, Any]) -> None:
    rows = csv_of(alice_page.get(session_report(history["bob_a"], "csv"), {"table": "timeline"}))
    assert [(r["start_seconds"], r["end_seconds"], r["frames"], r["score"]) for r in rows] == [
        ("0", "10", "6", "40.0"),
        ("10", "20", "4", "92.5"),
    ]
    assert [(r["letter"], r["dominant_emotion"], r["frames_sad"]) for r in rows] == [
        ("C", "sad", "6"),
        ("A", "happy", "0"),
    ]
    assert alice_page.get(session_report(history["bob_a"], "csv"), {"table": "secrets"}).status_code == 404


def test_the_session_pdf_holds_the_grade_its_facts_and_the_timeline_chart(
    alice_page: Client, history: dict[str, Any]
) -> None:
    response = alice_page.get(session_report(history["bob_a"], "pdf"))
    text = text_of(response)
    for expected in (
        "Session report", "Acme Support", "Grade A", "88.0 / 100", "80%", "Recovered (40 → 93)", "C-1",
        "bob@a.test", "v1", ZONE, "Votes by grade", "The timeline as a table", "0:00\u20130:10", "0:10\u20130:20",
        "Generated by MoodSaaS",
    ):  # fmt: skip
        assert expected in text, expected
    assert re.search(r"\b1 / [12]\b", text)  # page numbers
    assert "0:20" in text and "100" in text  # the timeline chart's axes: the chart is drawn, not pasted
    assert f'filename="session-{str(history["bob_a"].public_id)[:8]}.pdf"' in response["Content-Disposition"]


def test_a_session_in_progress_is_reported_with_its_running_grade(
    bob_page: Client, bob_session: EvaluationSession
) -> None:
    text = text_of(bob_page.get(session_report(bob_session, "pdf")))
    assert "running grade" in text and "No grade yet" in text and "No usable frame yet." in text
    [row] = csv_of(bob_page.get(session_report(bob_session, "csv")))
    assert (row["status"], row["grade"], row["ended_at"]) == ("open", "", "")


def test_an_agent_gets_reports_of_their_own_sessions_only(bob_page: Client, history: dict[str, Any]) -> None:
    for kind in ("csv", "pdf"):
        assert bob_page.get(session_report(history["bob_f"], kind)).status_code == 200
        assert bob_page.get(session_report(history["alice_b"], kind)).status_code == 404


def test_charlie_gets_a_404_for_company_as_reports_and_writes_nothing(
    charlie_page: Client, history: dict[str, Any], nothing_written: Any
) -> None:
    with nothing_written(EvaluationSession):
        for kind in ("csv", "pdf"):
            assert charlie_page.get(session_report(history["bob_a"], kind)).status_code == 404
        # His period report is his own company's: none of company A's sessions.
        rows = csv_of(charlie_page.get(period_report("csv"), {"table": "df"}))
        assert rows == []
        text = text_of(charlie_page.get(period_report("pdf")))
        assert "Bravo Care" in text and "Acme Support" not in text and "bob@a.test" not in text


def test_anonymous_visitors_are_sent_to_sign_in(client: Client, history: dict[str, Any]) -> None:
    for url in (session_report(history["bob_a"], "pdf"), period_report("pdf"), period_report("csv")):
        assert client.get(url).status_code == 302


# --- Period report -------------------------------------------------------------------------------


def test_the_period_csv_has_one_row_per_day(alice_page: Client, history: dict[str, Any]) -> None:
    response = alice_page.get(period_report("csv"), {"period": "30"})
    rows = csv_of(response)
    assert len(rows) == 30 and {r["bucket"] for r in rows} == {"day"}
    assert sum(int(r["sessions"]) for r in rows) == 4 and sum(int(r["F"]) for r in rows) == 1
    week = csv_of(alice_page.get(period_report("csv"), {"period": "90", "table": "trend"}))
    assert {r["bucket"] for r in week} == {"week"} and sum(int(r["sessions"]) for r in week) == 5
    assert "-trend.csv" in response["Content-Disposition"] and "period-acme-support-" in response["Content-Disposition"]


def test_the_period_csv_has_the_kpis_agents_and_bad_sessions(alice_page: Client, history: dict[str, Any]) -> None:
    kpis = {r["figure"]: r for r in csv_of(alice_page.get(period_report("csv"), {"period": "30", "table": "kpis"}))}
    assert (kpis["sessions"]["current"], kpis["sessions"]["previous"], kpis["sessions"]["change"]) == ("4", "1", "3")
    assert kpis["average_score"]["current"] == str(round((88 + 12 + 55) / 3, 1))
    assert kpis["grade_F"]["current"] == "1" and kpis["insufficient"]["current"] == "1"
    agents = {r["agent"]: r for r in csv_of(alice_page.get(period_report("csv"), {"table": "agents"}))}
    assert set(agents) == {"alice@a.test", "bob@a.test"}
    assert (agents["bob@a.test"]["sessions"], agents["bob@a.test"]["A"], agents["bob@a.test"]["recovered"]) == (
        "3", "1", "1",
    )  # fmt: skip
    bad = csv_of(alice_page.get(period_report("csv"), {"period": "90", "table": "df"}))
    assert [(r["grade"], r["agent"]) for r in bad] == [("F", "bob@a.test"), ("D", "alice@a.test")]


def test_the_period_pdf_holds_the_kpis_charts_agents_calibration_and_bad_sessions(
    alice_page: Client, history: dict[str, Any]
) -> None:
    text = text_of(alice_page.get(period_report("pdf"), {"period": "30"}))
    for expected in (
        "Period report", "Acme Support", ZONE, "Sessions", "4", "+3 vs previous period", "51.7", "D or F",
        "Average score", "Grade mix", "100%", "Agents", "alice@a.test", "bob@a.test",
        "Agreement with the customers' CSAT answers", "a correlation needs at least 20",
        "D and F sessions", "C-2", "Generated by MoodSaaS",
    ):  # fmt: skip
        assert expected in text, expected


def test_the_period_pdf_draws_the_charts_as_vectors(alice_page: Client, history: dict[str, Any]) -> None:
    response = alice_page.get(period_report("pdf"), {"period": "30"})
    first_page = PdfReader(io.BytesIO(response.content)).pages[0]
    drawing = first_page.get_contents().get_data()  # type: ignore[union-attr]
    assert drawing.count(b" re\n") >= 4  # the grade-mix bars are rectangles
    assert drawing.count(b" l\n") >= 10  # grid lines and the score line
    assert not first_page.images  # no raster picture of a chart


def test_period_reports_are_for_owners_and_admins(bob_page: Client, history: dict[str, Any]) -> None:
    assert bob_page.get(period_report("pdf")).status_code == 403
    assert bob_page.get(period_report("csv"), {"table": "agents"}).status_code == 403


def test_hidden_per_agent_views_leave_the_agents_out_of_every_report(
    alice_page: Client, company_a: Company, history: dict[str, Any]
) -> None:
    Company.objects.filter(pk=company_a.pk).update(agent_views_hidden=True)
    assert alice_page.get(period_report("csv"), {"table": "agents"}).status_code == 404
    text = text_of(alice_page.get(period_report("pdf")))
    assert "bob@a.test" not in text and "alice@a.test" not in text and "Agents" not in text
    assert "D and F sessions" in text and "C-2" in text
    assert {r["agent"] for r in csv_of(alice_page.get(period_report("csv"), {"table": "df"}))} == {""}
    [row] = csv_of(alice_page.get(session_report(history["bob_a"], "csv")))
    assert row["agent"] == ""
    assert "bob@a.test" not in text_of(alice_page.get(session_report(history["bob_a"], "pdf")))


def test_a_report_for_an_impossible_period_is_a_400(alice_page: Client, history: dict[str, Any]) -> None:
    query = {"period": "custom", "first": "2026-05-10", "last": "2026-05-01"}
    assert alice_page.get(period_report("pdf"), query).status_code == 400
    assert alice_page.get(period_report("csv"), query).status_code == 400


def test_a_custom_period_is_reported_for_exactly_its_days(alice_page: Client, history: dict[str, Any]) -> None:
    day = timezone.localtime(history["alice_old"].started_at, ZoneInfo(ZONE)).date()
    query = {"period": "custom", "first": day.isoformat(), "last": day.isoformat()}
    [row] = csv_of(alice_page.get(period_report("csv"), query))
    assert (row["date"], row["sessions"], row["D"]) == (day.isoformat(), "1", "1")


def test_the_period_pdf_pins_its_query_count(alice_page: Client, history: dict[str, Any]) -> None:
    alice_page.get(period_report("pdf"), {"period": "90"})  # warm per-process caches
    with CaptureQueriesContext(connection) as queries:
        assert alice_page.get(period_report("pdf"), {"period": "90"}).status_code == 200
    company, agent = history["bob_a"].company, history["bob_a"].agent
    for letter, score in (("D", 25.0), ("F", 5.0), ("A", 90.0)):
        finished(company, agent, letter, score, csat=2)
    with CaptureQueriesContext(connection) as more:
        alice_page.get(period_report("pdf"), {"period": "90"})
    assert len(more) == len(queries) <= 14


# --- Language, links and the renderer ------------------------------------------------------------


def test_the_pdf_is_rendered_in_the_readers_language(alice_page: Client, alice: User, history: dict[str, Any]) -> None:
    User.objects.filter(pk=alice.pk).update(language="es")
    for response in (
        alice_page.get(period_report("pdf")),
        alice_page.get(session_report(history["bob_a"], "pdf")),
    ):
        assert lang_of(response) == "es"
    english = Client(HTTP_ACCEPT_LANGUAGE="en")
    english.force_login(User.objects.get(email="owner@a.test"))
    assert lang_of(english.get(period_report("pdf"))) == "en"


def test_the_pages_link_to_their_reports(alice_page: Client, history: dict[str, Any]) -> None:
    detail = alice_page.get(reverse("portal-session", kwargs={"session_id": history["bob_a"].public_id}))
    assert session_report(history["bob_a"], "pdf") in detail.content.decode()
    dashboard = alice_page.get(reverse("portal"), {"period": "7"}).content.decode()
    first = (timezone.localdate(timezone=ZoneInfo(ZONE)) - timedelta(days=6)).isoformat()
    assert f"{period_report('pdf')}?period=custom&first={first}&last=" in dashboard
    assert "table=agents" in dashboard


def test_the_pdf_renderer_serves_only_our_static_files() -> None:
    css = pdf.static_file(pdf.BASE_URL + "static/frontend/report.css")
    assert css.name == "report.css" and b"@page" in css.read_bytes()
    for url in (
        "https://example.com/static/frontend/report.css",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "data:text/css,body{}",
        pdf.BASE_URL + "static/../../../../etc/passwd",
        pdf.BASE_URL + "static/%2e%2e/%2e%2e/settings.py",
        pdf.BASE_URL + "media/secret.png",
        pdf.BASE_URL + "static/frontend/no-such-file.css",
    ):
        with pytest.raises(pdf.RefusedURL):
            pdf.static_file(url)


def test_rendering_a_pdf_leaves_truncated_uploads_refused(
    alice_page: Client, history: dict[str, Any], face_jpeg: bytes
) -> None:
    from inference.decode import decode_bytes
    from inference.errors import CorruptImage

    assert alice_page.get(reverse("portal-period-report-pdf")).status_code == 200  # WeasyPrint is loaded
    with pytest.raises(CorruptImage, match="truncated"):
        decode_bytes(face_jpeg[: len(face_jpeg) // 2])
