"""The daily or weekly digest of a company: which period is due, and what it says.

Rules (docs/notifications.md "digest"):

1. A company's digest is daily, weekly or off (its notification settings; weekly by default).
2. It is produced at ``DIGEST_HOUR`` o'clock in the company's time zone or at the sweeper's
   first run after it: a daily digest covers yesterday, a weekly one the last complete week
   (Monday to Sunday), produced from Monday morning on.
3. A period without a finished session produces no digest (nothing to say is not worth an e-mail).
4. Each period is produced once: the event's key names the company, the frequency and the
   period's first day.

Figures come from ``evaluations.analytics`` (the dashboard's own queries): KPIs and their change
against the previous period, the trend of the last 7 days, and the period's D/F sessions.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Company
from evaluations import analytics
from evaluations.models import EvaluationSession
from notifications import outbox
from notifications.models import CompanySettings, DigestFrequency, Event, EventType
from notifications.payloads import absolute_url, session_url

DIGEST_HOUR = 7
DF_LIMIT = 20
TREND_DAYS = 7


def due_period(frequency: str, now: datetime, company: Company) -> analytics.Period | None:
    """The period a digest of ``frequency`` covers at ``now`` (None before the hour or when off)."""
    tz = analytics.company_zone(company)
    local = now.astimezone(tz)
    if frequency == DigestFrequency.OFF or local.time() < time(DIGEST_HOUR):
        return None
    today = local.date()
    if frequency == DigestFrequency.DAILY:
        yesterday = today - timedelta(days=1)
        return analytics.Period(yesterday, yesterday, tz, "custom")
    this_monday = today - timedelta(days=today.weekday())
    return analytics.Period(this_monday - timedelta(days=7), this_monday - timedelta(days=1), tz, "custom")


def key(company: Company, frequency: str, period: analytics.Period) -> str:
    return f"digest.{frequency}:{company.public_id}:{period.first.isoformat()}"


def _share(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _day(value: date) -> str:
    return value.isoformat()


def build(company: Company, frequency: str, period: analytics.Period) -> dict[str, Any] | None:
    """The ``digest`` event's data for ``period``, or None when no session finished in it."""
    change = analytics.kpi_change(company, period)
    current = change.current
    if current.sessions == 0:
        return None
    trend_period = analytics.Period(period.last - timedelta(days=TREND_DAYS - 1), period.last, period.tz, "custom")
    trend = analytics.trend(analytics.finished_in(company, trend_period), trend_period)
    show_agents = not company.agent_views_hidden
    bad = (
        analytics.finished_in(company, period)
        .filter(grade_letter__in=("D", "F"))
        .select_related("agent")
        .order_by("score", "started_at")[:DF_LIMIT]
    )
    return {
        "frequency": frequency,
        "period": {"first": _day(period.first), "last": _day(period.last), "time_zone": period.tz.key},
        "kpis": {
            "sessions": current.sessions,
            "graded": current.graded,
            "average_score": current.average_score,
            "grades": dict(current.grades),
            "insufficient": current.insufficient,
            "df_share": _share(current.df_share),
            "insufficient_share": _share(current.insufficient_share),
        },
        "change": {
            "sessions": change.sessions,
            "average_score": change.average_score,
            "df_share": _share(change.df_share),
        },
        "trend": [
            {"day": _day(point.day), "sessions": point.sessions, "average_score": point.average_score}
            for point in trend
        ],
        "df_sessions": [_bad_session(s, show_agents) for s in bad],
        "df_total": current.grades["D"] + current.grades["F"],
        "url": absolute_url(reverse("portal")),
    }


def _bad_session(session: EvaluationSession, show_agent: bool) -> dict[str, Any]:
    return {
        "id": str(session.public_id),
        "letter": session.grade_letter,
        "score": session.score,
        "agent": session.agent.email if show_agent and session.agent else None,
        "customer_reference": session.customer_reference,
        "started_at": session.started_at.isoformat(),
        "url": session_url(session.public_id),
    }


def produce_due(now: datetime | None = None) -> list[str]:
    """Produce every digest that is due at ``now`` and not produced yet; return their keys.

    Runs from Celery beat (``notifications.produce_digests``, hourly) across all companies.
    """
    now = now or timezone.now()
    # Every company's setting in one query (an admin job across tenants, reading one column).
    frequencies = dict(CompanySettings.unscoped_objects.values_list("company_id", "digest"))
    produced = []
    for company in Company.objects.order_by("pk"):
        frequency = frequencies.get(company.pk, DigestFrequency.WEEKLY)
        period = due_period(frequency, now, company)
        if period is None:
            continue
        digest_key = key(company, frequency, period)
        if Event.objects.for_company(company).filter(key=digest_key).exists():
            continue
        data = build(company, frequency, period)
        if data is None:
            continue
        with transaction.atomic():
            if outbox.record_event(company=company, key=digest_key, type=EventType.DIGEST, payload=data):
                produced.append(digest_key)
    return produced
