"""Reports to download: one session's (CSV, PDF) and a period's (CSV, PDF).

The PDFs are the pages' own figures on paper: the same evidence (``session_evidence``), the same
KPIs and charts (``trend_charts``, ``calibration_chart``, one SVG implementation in
``frontend.charts``), rendered by WeasyPrint from ``frontend/templates/frontend/reports/`` in the
request's language, with times in the company's time zone.

CSV layout: one table per file, so that every file opens as one plain sheet. Times are ISO 8601
in the company's time zone (with its UTC offset); numbers use a dot; empty means "none".

``app/sessions/<id>/report.csv``
    ``?table=facts`` (default): one row, the session's facts (the history export's columns with
    times in the company's zone, plus usable frames, trajectory scores, emotion shares as
    ``share_<emotion>`` and usable-frame votes as ``votes_<letter>``).
    ``?table=timeline``: one row per timeline interval (seconds from the start, usable frames,
    average score, the interval's letter, its dominant emotion, frames per emotion).
``app/reports/period.csv`` (owners and admins; the period is picked as on the dashboard)
    ``?table=trend`` (default): one row per day (periods up to 31 days) or week.
    ``?table=kpis``: one row per key figure: this period, the previous one, the change.
    ``?table=agents``: one row per agent (404 when the company hides per-agent views).
    ``?table=df``: every D and F session of the period, most recent first.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.models import Role
from accounts.tenancy import Tenant
from evaluations import analytics, grading
from evaluations.models import EvaluationSession
from frontend.pdf import pdf_response, render_pdf
from frontend.portal import EMOTION_LABELS, period_from, portal_page
from frontend.views.dashboard import calibration_chart, trend_charts
from frontend.views.sessions import _session_or_404, session_evidence

DF_LIMIT = 50
"""D and F sessions listed in the period PDF (the CSV ``?table=df`` has all of them)."""

SESSION_TABLES = ("facts", "timeline")
PERIOD_TABLES = ("trend", "kpis", "agents", "df")


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_response(rows: Iterable[list[Any]], filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _table(request: HttpRequest, tables: tuple[str, ...]) -> str:
    table = request.GET.get("table") or tables[0]
    if table not in tables:
        raise Http404(_("No such table in this report."))
    return table


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    return timezone.localtime(moment, zone).isoformat(timespec="seconds") if moment else ""


def _number(value: float | None, digits: int = 2) -> Any:
    return "" if value is None else round(value, digits)


def _generated(zone: ZoneInfo) -> datetime:
    return timezone.localtime(timezone.now(), zone)


# --- One session ---------------------------------------------------------------------------------


def _dominant(counts: dict[str, int]) -> str:
    return max(counts, key=lambda e: counts[e]) if any(counts.values()) else ""


def _clock(seconds: float) -> str:
    """Seconds from the start of the session as m:ss (the timeline chart's axis labels)."""
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def session_facts_rows(
    session: EvaluationSession, evidence: dict[str, Any], zone: ZoneInfo, show_agent: bool
) -> Iterator[list[Any]]:
    """``?table=facts``: a header and the session's one row (see the module docstring)."""
    grade, moved = evidence["grade"], evidence["trajectory"] or {}
    header = [
        "session_id", "started_at", "ended_at", "time_zone", "agent", "channel", "status", "customer_reference",
        "grade", "score", "confidence", "rubric_version", "model_version", "trajectory", "trajectory_start_score",
        "trajectory_end_score", "csat", "frames_received", "frames_processed", "frames_usable", "frames_dropped",
        "frames_rejected", "frames_failed",
        *(f"share_{e}" for e in grading.EMOTIONS), *(f"votes_{letter}" for letter in grading.LETTERS),
    ]  # fmt: skip
    yield header
    yield [
        session.public_id,
        _local(session.started_at, zone),
        _local(session.ended_at, zone),
        zone.key,
        (session.agent.email if session.agent else "") if show_agent else "",
        session.channel,
        session.status,
        session.customer_reference,
        grade.get("letter") or (grading.INSUFFICIENT if session.final_grade else ""),
        _number(grade.get("score")),
        _number(grade.get("confidence"), 3),
        session.rubric_version.version,
        evidence["model_version"],
        moved.get("kind", ""),
        _number(moved.get("start_score")),
        _number(moved.get("end_score")),
        session.csat or "",
        session.frames_received,
        session.frames_processed,
        grade.get("usable_frames", 0),
        session.frames_dropped,
        session.frames_rejected,
        session.frames_failed,
        *(round(grade["emotion_shares"].get(e, 0.0), 4) for e in grading.EMOTIONS),
        *(grade["group_counts"].get(letter, 0) for letter in grading.LETTERS),
    ]


def session_timeline_rows(evidence: dict[str, Any]) -> Iterator[list[Any]]:
    """``?table=timeline``: one row per interval of the session's timeline."""
    yield [
        "start_seconds", "end_seconds", "frames", "score", "letter", "dominant_emotion",
        *(f"frames_{e}" for e in grading.EMOTIONS),
    ]  # fmt: skip
    for bucket in evidence["grade"]["timeline"]:
        counts = bucket.get("emotion_counts") or {}
        yield [
            bucket["start_seconds"],
            bucket["end_seconds"],
            bucket["frames"],
            _number(bucket["score"]),
            bucket.get("letter") or "",
            _dominant(counts),
            *(counts.get(e, 0) for e in grading.EMOTIONS),
        ]


def _session_report(tenant: Tenant, session_id: uuid.UUID) -> tuple[EvaluationSession, dict[str, Any]]:
    session = _session_or_404(tenant, session_id)
    zone = analytics.company_zone(tenant.company)
    return session, {
        "session": session,
        "zone": zone,
        "show_agent": not tenant.company.agent_views_hidden,
        **session_evidence(session),
    }


def _session_filename(session: EvaluationSession, extension: str, table: str = "") -> str:
    suffix = f"-{table}" if table else ""
    return f"session-{str(session.public_id)[:8]}{suffix}.{extension}"


@require_GET
@portal_page()
def session_report_csv(request: HttpRequest, tenant: Tenant, session_id: uuid.UUID) -> StreamingHttpResponse:
    """One session as CSV: its facts (default) or its timeline (``?table=timeline``)."""
    table = _table(request, SESSION_TABLES)
    session, context = _session_report(tenant, session_id)
    if table == "timeline":
        rows = session_timeline_rows(context)
    else:
        rows = session_facts_rows(session, context, context["zone"], context["show_agent"])
    return _csv_response(rows, _session_filename(session, "csv", table))


@require_GET
@portal_page()
def session_report_pdf(request: HttpRequest, tenant: Tenant, session_id: uuid.UUID) -> HttpResponse:
    """One session as PDF: its facts, the grade's evidence and the timeline as a table."""
    session, context = _session_report(tenant, session_id)
    labels = {e: str(label) for e, label in EMOTION_LABELS.items()}
    context |= {
        "company": tenant.company,
        "generated_at": _generated(context["zone"]),
        "buckets": [
            {
                **bucket,
                "interval": f"{_clock(bucket['start_seconds'])}\u2013{_clock(bucket['end_seconds'])}",
                "dominant": labels.get(_dominant(bucket.get("emotion_counts") or {}), ""),
            }
            for bucket in context["grade"]["timeline"]
        ],
    }
    pdf = render_pdf("frontend/reports/session.html", context, request)
    return pdf_response(pdf, _session_filename(session, "pdf"))


# --- A period ------------------------------------------------------------------------------------


def period_report(tenant: Tenant, period: analytics.Period) -> dict[str, Any]:
    """The period's figures, as the dashboard computes them (a fixed number of queries)."""
    company = tenant.company
    change = analytics.kpi_change(company, period)
    in_period = analytics.finished_in(company, period)
    points = analytics.trend(in_period, period)
    show_agents = not company.agent_views_hidden
    calibration = analytics.calibration(in_period)
    bad = in_period.filter(grade_letter__in=("D", "F"))
    return {
        "company": company,
        "period": period,
        "zone": period.tz,
        "change": change,
        "kpis": change.current,
        "grade_shares": change.current.grade_shares(),
        "letters": grading.LETTERS,
        "points": points,
        "show_agents": show_agents,
        "summaries": analytics.agent_summaries(company, period) if show_agents else [],
        "calibration": calibration,
        "calibration_chart": calibration_chart(calibration) if calibration.enough else None,
        "csat_min_answers": analytics.CSAT_MIN_ANSWERS,
        "bad_sessions": bad,
        **trend_charts(points, period),
    }


def trend_rows(points: list[analytics.TrendPoint], period: analytics.Period) -> Iterator[list[Any]]:
    yield ["bucket", "date", "sessions", "graded", "average_score", *grading.LETTERS, "insufficient"]
    for point in points:
        yield [
            period.bucket,
            point.day.isoformat(),
            point.sessions,
            sum(point.grades.values()),
            _number(point.average_score, 1),
            *(point.grades[letter] for letter in grading.LETTERS),
            point.insufficient,
        ]


def kpi_rows(change: analytics.KpiChange) -> Iterator[list[Any]]:
    current, previous = change.current, change.previous
    yield ["figure", "current", "previous", "change"]
    yield ["sessions", current.sessions, previous.sessions, change.sessions]
    yield ["graded", current.graded, previous.graded, current.graded - previous.graded]
    yield ["average_score", _number(current.average_score, 1), _number(previous.average_score, 1),
           _number(change.average_score, 1)]  # fmt: skip
    yield ["df_share", _number(current.df_share, 4), _number(previous.df_share, 4), _number(change.df_share, 4)]
    yield ["insufficient_share", _number(current.insufficient_share, 4), _number(previous.insufficient_share, 4),
           _number(change.insufficient_share, 4)]  # fmt: skip
    for letter in grading.LETTERS:
        yield [f"grade_{letter}", current.grades[letter], previous.grades[letter],
               current.grades[letter] - previous.grades[letter]]  # fmt: skip
    yield ["insufficient", current.insufficient, previous.insufficient, current.insufficient - previous.insufficient]


def agent_rows(summaries: list[analytics.AgentSummary]) -> Iterator[list[Any]]:
    yield [
        "agent", "name", "sessions", "graded", "average_score", *grading.LETTERS, "insufficient",
        "first_half_score", "second_half_score", "trend", "recovered", "steady", "deteriorated",
    ]  # fmt: skip
    for s in summaries:
        yield [
            s.email,
            s.name,
            s.sessions,
            s.graded,
            _number(s.average_score, 1),
            *(s.grades[letter] for letter in grading.LETTERS),
            s.insufficient,
            _number(s.first_half_score, 1),
            _number(s.second_half_score, 1),
            _number(s.trend, 1),
            *(s.trajectories.get(kind, 0) for kind in (grading.RECOVERED, grading.STEADY, grading.DETERIORATED)),
        ]


def df_rows(sessions: QuerySet[EvaluationSession], zone: ZoneInfo, show_agents: bool) -> Iterator[list[Any]]:
    yield ["session_id", "started_at", "agent", "channel", "customer_reference", "grade", "score", "trajectory", "csat"]
    for s in sessions.select_related("agent").order_by("-started_at", "-id").iterator(chunk_size=500):
        yield [
            s.public_id,
            _local(s.started_at, zone),
            (s.agent.email if s.agent else "") if show_agents else "",
            s.channel,
            s.customer_reference,
            s.grade_letter,
            _number(s.score),
            s.trajectory,
            s.csat or "",
        ]


def _period_filename(tenant: Tenant, period: analytics.Period, extension: str, table: str = "") -> str:
    suffix = f"-{table}" if table else ""
    return f"period-{tenant.company.slug}-{period.first:%Y%m%d}-{period.last:%Y%m%d}{suffix}.{extension}"


@require_GET
@portal_page(Role.ADMIN)
def period_report_csv(request: HttpRequest, tenant: Tenant) -> HttpResponse | StreamingHttpResponse:
    """A period's figures as CSV, one table per file (``?table=``, see the module docstring)."""
    table = _table(request, PERIOD_TABLES)
    if table == "agents" and tenant.company.agent_views_hidden:
        raise Http404(_("No such table in this report."))
    period, _form, error = period_from(request, tenant)
    if error:
        return HttpResponseBadRequest(error, content_type="text/plain; charset=utf-8")
    company = tenant.company
    show_agents = not company.agent_views_hidden
    rows: Iterator[list[Any]]
    if table == "trend":
        rows = trend_rows(analytics.trend(analytics.finished_in(company, period), period), period)
    elif table == "kpis":
        rows = kpi_rows(analytics.kpi_change(company, period))
    elif table == "agents":
        rows = agent_rows(analytics.agent_summaries(company, period))
    else:
        bad = analytics.finished_in(company, period).filter(grade_letter__in=("D", "F"))
        rows = df_rows(bad, period.tz, show_agents)
    return _csv_response(rows, _period_filename(tenant, period, "csv", table))


@require_GET
@portal_page(Role.ADMIN)
def period_report_pdf(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """A period's report as PDF: KPIs, trend and grade charts, agents, CSAT calibration, D/F sessions."""
    period, _form, error = period_from(request, tenant)
    if error:
        return HttpResponseBadRequest(error, content_type="text/plain; charset=utf-8")
    context = period_report(tenant, period)
    bad = context.pop("bad_sessions")
    context |= {
        "generated_at": _generated(period.tz),
        "bad_count": bad.count(),
        "bad_sessions": list(bad.select_related("agent").order_by("-started_at", "-id")[:DF_LIMIT]),
        "bad_limit": DF_LIMIT,
    }
    pdf = render_pdf("frontend/reports/period.html", context, request)
    return pdf_response(pdf, _period_filename(tenant, period, "pdf"))
