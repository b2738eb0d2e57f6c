"""Company analytics for the portal and the reports: periods, KPIs, trends, agents, CSAT.

Everything is aggregated in the database over session rows (one query per figure family, never a
Python loop over observations), in the company's time zone. Only finished sessions count
towards results; open and paused ones are "in progress"; cancelled ones are left out.

Rules (docs/grading.md, "Portal figures"):

1. A period is whole days in the company's time zone: the last 7, 30 or 90 days including
   today, or a custom range of dates (both included). Its previous period is the same number of
   days just before it.
2. KPIs: sessions = finished sessions started in the period; graded = those with a letter;
   average score = mean score of graded sessions; insufficient share = finished sessions without
   enough evidence / sessions; D/F share = graded D or F / graded.
3. Coaching needed: agents with at least ``COACHING_MIN_SESSIONS`` graded sessions in the
   period, lowest average score first, at most ``COACHING_LIMIT`` of them, and only those whose
   average is under ``COACHING_SCORE`` (a team doing well needs no list).
4. CSAT calibration: Spearman's rank correlation between our score and the customer's CSAT
   answer over graded sessions with an answer, shown only from ``CSAT_MIN_ANSWERS`` answers on;
   letter-versus-CSAT agreement counts a session as agreeing when its letter band matches the
   CSAT band (A/B with 4-5, C with 3, D/F with 1-2).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.db.models import Avg, Count, F, Q, QuerySet
from django.db.models.functions import TruncDate, TruncWeek
from django.utils.translation import gettext as _

from accounts.models import Company, Membership, User
from evaluations.grading import INSUFFICIENT, LETTERS
from evaluations.models import EvaluationSession, Status, Trajectory

PERIOD_CHOICES = (7, 30, 90)
MAX_CUSTOM_DAYS = 366
COACHING_MIN_SESSIONS = 5
COACHING_LIMIT = 5
COACHING_SCORE = 60.0
CSAT_MIN_ANSWERS = 20
CSAT_BANDS = {"A": "positive", "B": "positive", "C": "neutral", "D": "negative", "F": "negative"}


def csat_band(csat: int) -> str:
    return "positive" if csat >= 4 else "neutral" if csat == 3 else "negative"


# --- Periods -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole days ``first``..``last`` (both included) in time zone ``tz``."""

    first: date
    last: date
    tz: ZoneInfo
    key: str  # "7", "30", "90" or "custom"

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=self.tz)

    @property
    def end(self) -> datetime:
        """Exclusive end: midnight after ``last``."""
        return datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=self.tz)

    @property
    def bucket(self) -> Literal["day", "week"]:
        """Trend granularity: days up to a month, weeks beyond."""
        return "day" if self.days <= 31 else "week"

    def previous(self) -> Period:
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1), self.tz, self.key)


class PeriodError(ValueError):
    """A period that cannot be shown; the message says why."""


def company_zone(company: Company) -> ZoneInfo:
    return ZoneInfo(company.time_zone or "UTC")


def period_for(
    company: Company, key: str | None, first: date | None = None, last: date | None = None, now: datetime | None = None
) -> Period:
    """The period a page asks for: ``key`` 7/30/90 (default 30) or "custom" with ``first``/``last``."""
    tz = company_zone(company)
    today = (now or datetime.now(tz=tz)).astimezone(tz).date()
    if key == "custom":
        if first is None or last is None:
            raise PeriodError(_("A custom period needs a first and a last day."))
        if last < first:
            raise PeriodError(_("The last day comes before the first."))
        if (last - first).days + 1 > MAX_CUSTOM_DAYS:
            raise PeriodError(_("A period is at most %(days)s days long.") % {"days": MAX_CUSTOM_DAYS})
        return Period(first, last, tz, "custom")
    days = int(key) if key and key.isdigit() and int(key) in PERIOD_CHOICES else 30
    return Period(today - timedelta(days=days - 1), today, tz, str(days))


def finished_in(
    company: Company, period: Period, agent: User | None = None, sessions: QuerySet[EvaluationSession] | None = None
) -> QuerySet[EvaluationSession]:
    """Finished sessions of ``company`` started within ``period`` (of one agent if given)."""
    queryset = sessions if sessions is not None else EvaluationSession.objects.for_company(company)
    queryset = queryset.filter(status=Status.FINISHED, started_at__gte=period.start, started_at__lt=period.end)
    if agent is not None:
        queryset = queryset.filter(agent=agent)
    return queryset


# --- KPIs ----------------------------------------------------------------------------------------


def _grade_counts() -> dict[str, Any]:
    counts: dict[str, Any] = {letter: Count("pk", filter=Q(grade_letter=letter)) for letter in LETTERS}
    counts["insufficient"] = Count("pk", filter=Q(grade_letter=INSUFFICIENT))
    return counts


@dataclass(frozen=True)
class Kpis:
    sessions: int
    average_score: float | None
    grades: dict[str, int]
    insufficient: int

    @property
    def graded(self) -> int:
        return sum(self.grades.values())

    @property
    def insufficient_share(self) -> float | None:
        return self.insufficient / self.sessions if self.sessions else None

    @property
    def df_share(self) -> float | None:
        return (self.grades["D"] + self.grades["F"]) / self.graded if self.graded else None

    def grade_shares(self) -> dict[str, float]:
        return {letter: (n / self.graded if self.graded else 0.0) for letter, n in self.grades.items()}


def kpis(sessions: QuerySet[EvaluationSession]) -> Kpis:
    """KPIs of a queryset of finished sessions, in one query."""
    row = sessions.aggregate(
        sessions=Count("pk"),
        average_score=Avg("score", filter=Q(grade_letter__in=LETTERS)),
        **_grade_counts(),
    )
    return Kpis(
        sessions=row["sessions"],
        average_score=round(row["average_score"], 1) if row["average_score"] is not None else None,
        grades={letter: row[letter] for letter in LETTERS},
        insufficient=row["insufficient"],
    )


@dataclass(frozen=True)
class KpiChange:
    """Current KPIs with the previous period's, for "change against the previous period"."""

    current: Kpis
    previous: Kpis

    @property
    def sessions(self) -> int:
        return self.current.sessions - self.previous.sessions

    @property
    def average_score(self) -> float | None:
        if self.current.average_score is None or self.previous.average_score is None:
            return None
        return round(self.current.average_score - self.previous.average_score, 1)

    @property
    def df_share(self) -> float | None:
        if self.current.df_share is None or self.previous.df_share is None:
            return None
        return self.current.df_share - self.previous.df_share

    @property
    def insufficient_share(self) -> float | None:
        if self.current.insufficient_share is None or self.previous.insufficient_share is None:
            return None
        return self.current.insufficient_share - self.previous.insufficient_share


def kpi_change(company: Company, period: Period, agent: User | None = None) -> KpiChange:
    return KpiChange(
        current=kpis(finished_in(company, period, agent)),
        previous=kpis(finished_in(company, period.previous(), agent)),
    )


# --- Trend ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendPoint:
    day: date  # the day, or the Monday of the week
    sessions: int
    average_score: float | None
    grades: dict[str, int]
    insufficient: int


def trend(sessions: QuerySet[EvaluationSession], period: Period) -> list[TrendPoint]:
    """Per day (periods up to 31 days) or week: sessions, average score and grade mix; empty days included."""
    trunc = (
        TruncDate("started_at", tzinfo=period.tz)
        if period.bucket == "day"
        else TruncWeek("started_at", tzinfo=period.tz)
    )
    rows = (
        sessions.annotate(bucket=trunc)
        .values("bucket")
        .annotate(
            sessions=Count("pk"),
            average_score=Avg("score", filter=Q(grade_letter__in=LETTERS)),
            **_grade_counts(),
        )
        .order_by("bucket")
    )
    found: dict[date, dict[str, Any]] = {}
    for row in rows:
        bucket = row["bucket"]
        day = bucket.date() if isinstance(bucket, datetime) else bucket
        found[day] = row
    points = []
    for day in _buckets(period):
        got: dict[str, Any] | None = found.get(day)
        points.append(
            TrendPoint(
                day=day,
                sessions=got["sessions"] if got else 0,
                average_score=round(got["average_score"], 1) if got and got["average_score"] is not None else None,
                grades={letter: (got[letter] if got else 0) for letter in LETTERS},
                insufficient=got["insufficient"] if got else 0,
            )
        )
    return points


def _buckets(period: Period) -> list[date]:
    if period.bucket == "day":
        return [period.first + timedelta(days=i) for i in range(period.days)]
    monday = period.first - timedelta(days=period.first.weekday())
    weeks = []
    while monday <= period.last:
        weeks.append(monday)
        monday += timedelta(days=7)
    return weeks


# --- Agents --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentSummary:
    agent_id: int
    email: str
    name: str
    member_id: str | None
    sessions: int
    average_score: float | None
    grades: dict[str, int]
    insufficient: int
    first_half_score: float | None
    second_half_score: float | None
    trajectories: dict[str, int] = field(default_factory=dict)

    @property
    def graded(self) -> int:
        return sum(self.grades.values())

    @property
    def trend(self) -> float | None:
        """Average score of the second half of the period minus the first half's."""
        if self.first_half_score is None or self.second_half_score is None:
            return None
        return round(self.second_half_score - self.first_half_score, 1)

    @property
    def label(self) -> str:
        return self.name or self.email


def agent_summaries(company: Company, period: Period) -> list[AgentSummary]:
    """One row per agent with finished sessions in the period, best average first (one query + members)."""
    middle = period.start + (period.end - period.start) / 2
    graded = Q(grade_letter__in=LETTERS)
    rows = (
        finished_in(company, period)
        .exclude(agent=None)
        .values("agent_id", "agent__email", "agent__first_name", "agent__last_name")
        .annotate(
            sessions=Count("pk"),
            average_score=Avg("score", filter=graded),
            first_half=Avg("score", filter=graded & Q(started_at__lt=middle)),
            second_half=Avg("score", filter=graded & Q(started_at__gte=middle)),
            **_grade_counts(),
            **{f"trajectory_{t}": Count("pk", filter=Q(trajectory=t)) for t in Trajectory.values},
        )
        .order_by(F("average_score").desc(nulls_last=True), "agent__email")
    )
    members = dict(
        Membership.objects.for_company(company).values_list("user_id", "public_id")
    )  # agents who left have no member page

    def rounded(value: float | None) -> float | None:
        return round(value, 1) if value is not None else None

    return [
        AgentSummary(
            agent_id=row["agent_id"],
            email=row["agent__email"],
            name=f"{row['agent__first_name']} {row['agent__last_name']}".strip(),
            member_id=str(members[row["agent_id"]]) if row["agent_id"] in members else None,
            sessions=row["sessions"],
            average_score=rounded(row["average_score"]),
            grades={letter: row[letter] for letter in LETTERS},
            insufficient=row["insufficient"],
            first_half_score=rounded(row["first_half"]),
            second_half_score=rounded(row["second_half"]),
            trajectories={t: row[f"trajectory_{t}"] for t in Trajectory.values},
        )
        for row in rows
    ]


def coaching_needed(summaries: Sequence[AgentSummary]) -> list[AgentSummary]:
    """Agents to coach first (rule 3 of the module docstring)."""
    eligible = [
        s
        for s in summaries
        if s.graded >= COACHING_MIN_SESSIONS and s.average_score is not None and s.average_score < COACHING_SCORE
    ]
    return sorted(eligible, key=lambda s: (s.average_score, s.email))[:COACHING_LIMIT]


# --- CSAT calibration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CsatGroup:
    csat: int
    sessions: int
    scores: tuple[float, ...]

    @property
    def median(self) -> float | None:
        return round(statistics.median(self.scores), 1) if self.scores else None

    @property
    def quartiles(self) -> tuple[float, float] | None:
        if len(self.scores) < 2:
            return None
        q = statistics.quantiles(self.scores, n=4, method="inclusive")
        return round(q[0], 1), round(q[2], 1)


@dataclass(frozen=True)
class Calibration:
    answers: int
    spearman: float | None  # None below CSAT_MIN_ANSWERS
    agreement: float | None  # share of sessions whose letter band matches the CSAT band
    groups: list[CsatGroup]
    points: list[tuple[int, float]]  # (csat, score) of every answered session, for the plot

    @property
    def enough(self) -> bool:
        return self.answers >= CSAT_MIN_ANSWERS


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson's on average ranks); None when either side is constant."""
    if len(x) < 2:
        return None
    try:
        return round(statistics.correlation(_ranks(x), _ranks(y)), 3)
    except statistics.StatisticsError:  # a constant side has no correlation
        return None


def calibration(sessions: QuerySet[EvaluationSession]) -> Calibration:
    """How our score agrees with the customers' CSAT answers over graded finished sessions."""
    rows: list[tuple[int, float, str]] = list(
        sessions.filter(csat__isnull=False, grade_letter__in=LETTERS, score__isnull=False).values_list(  # type: ignore[arg-type]
            "csat", "score", "grade_letter"
        )
    )
    answers = len(rows)
    by_csat: dict[int, list[float]] = {c: [] for c in range(1, 6)}
    agree = 0
    for csat, score, letter in rows:
        by_csat[csat].append(score)
        agree += CSAT_BANDS[letter] == csat_band(csat)
    enough = answers >= CSAT_MIN_ANSWERS
    return Calibration(
        answers=answers,
        spearman=spearman([r[1] for r in rows], [float(r[0]) for r in rows]) if enough else None,
        agreement=round(agree / answers, 3) if enough else None,
        groups=[CsatGroup(c, len(v), tuple(sorted(v))) for c, v in by_csat.items()],
        points=[(r[0], r[1]) for r in rows],
    )
