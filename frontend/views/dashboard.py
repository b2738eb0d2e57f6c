"""The portal's front pages: the company dashboard (owners and admins), an agent's own home, and
the per-agent pages (hidden when the company hides per-agent views)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.models import Membership, Role, User
from accounts.tenancy import Tenant
from evaluations import analytics
from evaluations.grading import LETTERS
from evaluations.models import EvaluationSession, Status
from frontend import charts
from frontend.portal import period_from, portal_page

LIVE_LIMIT = 50
RECENT_LIMIT = 10


def trend_charts(points: list[analytics.TrendPoint], period: analytics.Period) -> dict[str, Any]:
    """The score trend and grade-mix charts of a period (pages and the period PDF use these)."""
    labels = [date_format(p.day, "j M") for p in points]
    per = _("day") if period.bucket == "day" else _("week")
    return {
        "score_chart": charts.score_line(
            labels,
            [p.average_score for p in points],
            title=_("Average satisfaction score per %(per)s") % {"per": per},
            description=", ".join(
                f"{label}: {'-' if p.average_score is None else p.average_score}"
                for label, p in zip(labels, points, strict=True)
            ),
        ),
        "grade_chart": charts.stacked_bars(
            labels,
            [{**p.grades, "insufficient": p.insufficient} for p in points],
            [*LETTERS, "insufficient"],
            title=_("Grade mix per %(per)s") % {"per": per},
            description=", ".join(
                f"{label}: " + " ".join(f"{k} {v}" for k, v in p.grades.items())
                for label, p in zip(labels, points, strict=True)
            ),
        ),
    }


def calibration_chart(calibration: analytics.Calibration) -> Any:
    median = _("median")  # outside the f-string: xgettext does not look inside f-strings
    return charts.score_by_csat(
        calibration.points,
        title=_("Our score by the customer's CSAT answer"),
        description=", ".join(
            f"CSAT {g.csat}: {g.sessions} ({median} {g.median if g.median is not None else '-'})"
            for g in calibration.groups
        ),
    )


def live_sessions(tenant: Tenant, agent: User | None = None) -> list[EvaluationSession]:
    sessions = EvaluationSession.objects.for_company(tenant.company).filter(status__in=(Status.OPEN, Status.PAUSED))
    if agent is not None:
        sessions = sessions.filter(agent=agent)
    return list(sessions.select_related("agent").order_by("-started_at")[:LIVE_LIMIT])


@require_GET
@portal_page()
def portal_home(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """Owners and admins land on the company dashboard, agents on their own results."""
    if tenant.role.at_least(Role.ADMIN):
        return dashboard(request, tenant)
    return agent_home(request, tenant)


def results_context(
    request: HttpRequest, tenant: Tenant, agent: User | None = None
) -> tuple[dict[str, Any], analytics.Period, QuerySet[EvaluationSession]]:
    """What every results page shows for its period (the company's, or one agent's): the period
    picker, KPIs with their change, the trend charts; with the period and its finished sessions."""
    period, form, period_error = period_from(request, tenant)
    finished = analytics.finished_in(tenant.company, period, agent)
    change = analytics.kpi_change(tenant.company, period, agent)
    points = analytics.trend(finished, period)
    context = {
        "period": period,
        "form": form,
        "period_error": period_error,
        "change": change,
        "kpis": change.current,
        "grade_shares": change.current.grade_shares(),
        "letters": LETTERS,
        "points": points,
        "zone": analytics.company_zone(tenant.company),
        **trend_charts(points, period),
    }
    return context, period, finished


def dashboard(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    context, period, in_period = results_context(request, tenant)
    company = tenant.company
    show_agents = not company.agent_views_hidden
    summaries = analytics.agent_summaries(company, period) if show_agents else []
    calibration = analytics.calibration(in_period)
    context |= {
        "live": live_sessions(tenant),
        "recent_bad": list(
            in_period.filter(grade_letter__in=("D", "F")).select_related("agent").order_by("-started_at")[:RECENT_LIMIT]
        ),
        "show_agents": show_agents,
        "coaching": analytics.coaching_needed(summaries),
        "coaching_min_sessions": analytics.COACHING_MIN_SESSIONS,
        "coaching_score": analytics.COACHING_SCORE,
        "calibration": calibration,
        "calibration_chart": calibration_chart(calibration) if calibration.enough else None,
        "csat_min_answers": analytics.CSAT_MIN_ANSWERS,
        "dashboard_socket": "/ws/dashboard/",
        "session_url_template": reverse("portal-session", kwargs={"session_id": uuid.UUID(int=0)}),
    }
    return render(request, "frontend/portal/dashboard.html", context)


def agent_home(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """An agent's own results: their KPIs and trend, their sessions in progress and latest ones."""
    assert tenant.user is not None  # agents are people; tokens do not browse pages
    context, _period, _mine = results_context(request, tenant, tenant.user)
    context |= {
        "live": live_sessions(tenant, tenant.user),
        "recent": list(
            EvaluationSession.objects.for_company(tenant.company)
            .filter(agent=tenant.user)
            .order_by("-started_at")[:RECENT_LIMIT]
        ),
    }
    return render(request, "frontend/portal/agent_home.html", context)


@require_GET
@portal_page(Role.ADMIN, per_agent=True)
def agent_list(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    period, form, period_error = period_from(request, tenant)
    summaries = analytics.agent_summaries(tenant.company, period)
    context = {
        "period": period,
        "form": form,
        "period_error": period_error,
        "summaries": summaries,
        "coaching": analytics.coaching_needed(summaries),
        "coaching_min_sessions": analytics.COACHING_MIN_SESSIONS,
        "coaching_score": analytics.COACHING_SCORE,
        "coaching_limit": analytics.COACHING_LIMIT,
        "letters": LETTERS,
    }
    return render(request, "frontend/portal/agent_list.html", context)


@require_GET
@portal_page(Role.ADMIN, per_agent=True)
def agent_detail(request: HttpRequest, tenant: Tenant, member_id: uuid.UUID) -> HttpResponse:
    membership = (
        Membership.objects.for_company(tenant.company).select_related("user").filter(public_id=member_id).first()
    )
    if membership is None:
        raise Http404(_("No such member in your company."))
    agent = membership.user
    context, _period, theirs = results_context(request, tenant, agent)
    calibration = analytics.calibration(theirs)
    context |= {
        "membership": membership,
        "agent": agent,
        "trajectories": {
            row["trajectory"]: row["n"] for row in theirs.values("trajectory").annotate(n=Count("pk")).order_by()
        },
        "recent": list(theirs.order_by("-started_at")[:RECENT_LIMIT]),
        "calibration": calibration,
        "calibration_chart": calibration_chart(calibration) if calibration.enough else None,
        "csat_min_answers": analytics.CSAT_MIN_ANSWERS,
    }
    return render(request, "frontend/portal/agent_detail.html", context)
