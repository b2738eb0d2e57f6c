"""Daily and weekly digests: which period is due in the company's time zone, what they say, once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from accounts.models import Company, User
from notifications import digests
from notifications.models import CompanySettings, DigestFrequency, Event, EventType
from tests.frontend.conftest import finished
from tests.notifications.conftest import Inbox, parts

WEDNESDAY_8_UTC = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
LAST_WEEK = (date(2026, 11, 23), date(2026, 11, 29))


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def test_a_daily_digest_covers_yesterday_from_seven_in_the_companys_time_zone(company_a: Company) -> None:
    company_a.time_zone = "America/New_York"  # 08:00 UTC is 03:00 there
    assert digests.due_period(DigestFrequency.DAILY, WEDNESDAY_8_UTC, company_a) is None
    period = digests.due_period(DigestFrequency.DAILY, WEDNESDAY_8_UTC + timedelta(hours=5), company_a)
    assert period is not None
    assert (period.first, period.last, period.tz) == (
        date(2026, 12, 1),
        date(2026, 12, 1),
        ZoneInfo("America/New_York"),
    )


def test_a_weekly_digest_covers_the_last_complete_week_and_off_means_none(company_a: Company) -> None:
    period = digests.due_period(DigestFrequency.WEEKLY, WEDNESDAY_8_UTC, company_a)
    assert period is not None and (period.first, period.last) == LAST_WEEK
    monday_early = datetime(2026, 11, 30, 6, 59, tzinfo=UTC)
    assert digests.due_period(DigestFrequency.WEEKLY, monday_early, company_a) is None
    assert digests.due_period(DigestFrequency.OFF, WEDNESDAY_8_UTC, company_a) is None


@pytest.fixture
def last_week(company_a: Company, bob: User) -> None:
    for day, letter, score in [
        (date(2026, 11, 23), "A", 90.0),
        (date(2026, 11, 24), "B", 60.0),
        (date(2026, 11, 24), "F", 8.0),
        (date(2026, 11, 27), "D", 21.0),
        (date(2026, 11, 28), "insufficient_evidence", None),
    ]:
        finished(company_a, bob, letter, score, started=at(day), customer_reference=f"T-{day.day}")
    finished(company_a, bob, "B", 50.0, started=at(date(2026, 11, 18)))  # the week before


def test_the_weekly_digest_has_the_kpis_the_trend_and_the_d_and_f_sessions_and_is_made_once(
    smtp: Inbox, company_a: Company, alice: User, owner: User, bob: User, last_week: None, committed: Any
) -> None:
    produced = committed(digests.produce_due, WEDNESDAY_8_UTC)
    assert produced == [f"digest.weekly:{company_a.public_id}:2026-11-23"]
    assert committed(digests.produce_due, WEDNESDAY_8_UTC + timedelta(hours=1)) == []
    (event,) = Event.objects.for_company(company_a).filter(type=EventType.DIGEST)
    data = event.payload
    assert data["period"] == {"first": "2026-11-23", "last": "2026-11-29", "time_zone": "UTC"}
    assert data["kpis"]["sessions"] == 5 and data["kpis"]["graded"] == 4
    assert data["kpis"]["grades"] == {"A": 1, "B": 1, "C": 0, "D": 1, "F": 1}
    assert data["kpis"]["average_score"] == 44.8
    assert data["kpis"]["df_share"] == 0.5
    assert data["change"] == {"sessions": 4, "average_score": -5.2, "df_share": 0.5}
    assert [p["sessions"] for p in data["trend"]] == [1, 2, 0, 0, 1, 1, 0]
    assert [(s["letter"], s["agent"]) for s in data["df_sessions"]] == [("F", "bob@a.test"), ("D", "bob@a.test")]
    assert data["df_total"] == 2
    # Admins and owners, not agents.
    assert sorted(m["To"] for m in smtp.messages) == ["alice@a.test", "owner@a.test"]
    message = smtp.to("alice@a.test")[0]
    assert (
        str(message["Subject"]).strip()
        == "[MoodSaaS] Weekly digest, 23 Nov to 29 Nov 2026: 5 sessions · 2 graded D or F"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(message)
    assert "Average score: 44.8 (-5.2 on the previous period)" in text
    assert "Mon 23 Nov: 1, 90.0" in text
    assert "F · Tue 24 Nov, 10:00 · bob@a.test: https://moodsaas.example/app/sessions/" in text
    assert ">F</span>" in html and "https://moodsaas.example/app/" in html


def test_agent_names_stay_out_when_the_company_hides_per_agent_results(
    company_a: Company, last_week: None, committed: Any
) -> None:
    company_a.agent_views_hidden = True
    company_a.save()
    committed(digests.produce_due, WEDNESDAY_8_UTC)
    (event,) = Event.objects.for_company(company_a).filter(type=EventType.DIGEST)
    assert {s["agent"] for s in event.payload["df_sessions"]} == {None}


def test_a_daily_company_gets_yesterday_and_an_empty_day_gets_nothing(
    company_a: Company, bob: User, committed: Any
) -> None:
    CompanySettings.objects.create(company=company_a, digest=DigestFrequency.DAILY)
    assert committed(digests.produce_due, WEDNESDAY_8_UTC) == []
    finished(company_a, bob, "C", 30.0, started=at(date(2026, 12, 1)))
    assert committed(digests.produce_due, WEDNESDAY_8_UTC) == [f"digest.daily:{company_a.public_id}:2026-12-01"]


def test_a_company_with_the_digest_off_gets_none(company_a: Company, last_week: None, committed: Any) -> None:
    CompanySettings.objects.create(company=company_a, digest=DigestFrequency.OFF)
    assert committed(digests.produce_due, WEDNESDAY_8_UTC) == []


def test_a_digest_webhook_receives_the_same_data(
    receiver: Any, alice: User, company_a: Company, last_week: None, committed: Any
) -> None:
    from tests.notifications.test_webhooks import endpoint_for

    endpoint_for(receiver, alice, company_a, events=["digest"])
    committed(digests.produce_due, WEDNESDAY_8_UTC)
    (request,) = receiver.requests
    assert request.verified == {receiver.secrets[0]: True}
    assert request.json["type"] == "digest"
    assert request.json["data"]["kpis"]["sessions"] == 5
