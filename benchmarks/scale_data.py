"""``python -m benchmarks.scale_data``: one company with tens of thousands of finished sessions, fast.

    python -m benchmarks.scale_data --company scale-test --sessions 20000 --observations 2000000 --days 100

The data the portal benchmark (``python -m benchmarks.portal``) measures against: a company whose
90-day dashboard covers about 20,000 sessions and 2 million observations. A tool, not part of the
product; it writes rows directly (no audit rows, no websocket events) because going through the
actions would take hours.

What is real and what is not: the observations are the active model's real readings of the demo's
frame pool (``evaluations.demo.frame_pool``: sample photos under real image operations), each
reused many times; which readings a session gets, its agent and its time are drawn at random. The
grade columns are not drawn: each session's frames are folded by the real grading
(``grading.GradeState``), so ``grade_letter``, ``score``, ``confidence``, ``trajectory``,
``grade_state`` and the frozen ``final_grade`` agree with its observations exactly as
``finish_session`` would leave them. About a third of graded sessions carry a CSAT answer drawn
around their score.

Steps:

1. Create the company (time zone Europe/Madrid, retention long enough to keep every row), its
   owner and ``--agents`` agents. An existing company of that slug is refused unless
   ``--replace`` (its sessions, frames and observations are deleted first).
2. Plan every session: agent (each with a skill that sets its grade mix), start time (working
   hours of the last ``--days`` days), target letter, and a number of faces so that the total is
   exactly ``--observations``.
3. Per batch of sessions: compose and fold the frames, insert the sessions (``bulk_create``, which
   returns their ids), then stream their ledger rows and observations with PostgreSQL's ``COPY``
   (``bulk_create`` in batches elsewhere, for a small run on SQLite).
4. ``VACUUM (ANALYZE)`` the three tables: the planner learns their new size, and the pages are
   marked all-visible as autovacuum would mark them once the rows stop changing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import django

if TYPE_CHECKING:
    from accounts.models import Company, User
    from evaluations.demo import Reading
    from evaluations.grading import Rubric

SESSION_BATCH = 500
TIME_ZONE = "Europe/Madrid"
RETENTION_DAYS = 3650


class ScaleDataError(Exception):
    """A run that cannot start; the message says why."""


@dataclass(frozen=True)
class Planned:
    agent: int  # index into the agents
    started_at: datetime
    target: str
    faces: int


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scale_data",
        description="Create one company with many finished sessions and observations for the portal benchmark.",
    )
    parser.add_argument("--company", default="scale-test", help="Slug of the company (default scale-test).")
    parser.add_argument("--sessions", type=int, default=20_000, help="Finished sessions (default 20,000).")
    parser.add_argument("--observations", type=int, default=2_000_000, help="Observations in all (default 2,000,000).")
    parser.add_argument("--days", type=int, default=100, help="Days of history before today (default 100).")
    parser.add_argument("--agents", type=int, default=40, help="Agents (default 40).")
    parser.add_argument("--seed", type=int, default=20_000, help="Random seed (default 20000).")
    parser.add_argument("--replace", action="store_true", help="Delete the company's sessions first if it exists.")
    return parser


def check(options: dict[str, Any]) -> None:
    if options["sessions"] < 1 or options["agents"] < 1 or options["days"] < 1:
        raise ScaleDataError("--sessions, --agents and --days must be at least 1.")
    if options["observations"] < 5 * options["sessions"]:
        raise ScaleDataError("--observations must be at least 5 per session (the rubric's minimum evidence).")


# --- 1. The company ------------------------------------------------------------------------------


def company_and_people(slug: str, agents: int, replace: bool) -> tuple[Company, User, list[User]]:
    from accounts import actions
    from accounts.models import Company, Membership, Role, User
    from evaluations.models import EvaluationSession, Observation, SessionFrame

    domain = f"{slug}.moodsaas.test"
    company = Company.objects.filter(slug=slug).first()
    if company is not None and EvaluationSession.objects.for_company(company).exists():
        if not replace:
            raise ScaleDataError(f"Company {slug!r} already has sessions; pass --replace to start again.")
        Observation.objects.for_company(company).delete()
        SessionFrame.objects.for_company(company).delete()
        EvaluationSession.objects.for_company(company).delete()
    owner, _ = User.objects.get_or_create(
        email=f"owner@{domain}", defaults={"first_name": "Scale", "last_name": "Owner"}
    )
    if company is None:
        company = actions.create_company(name=f"Scale test {slug}", owner=owner)
        Company.objects.filter(pk=company.pk).update(slug=slug)
        company.slug = slug
    Company.objects.filter(pk=company.pk).update(time_zone=TIME_ZONE, retention_days=RETENTION_DAYS)
    company.refresh_from_db()
    emails = [f"agent{i:03d}@{domain}" for i in range(agents)]
    existing = set(User.objects.filter(email__in=emails).values_list("email", flat=True))
    User.objects.bulk_create(
        [User(email=e, first_name="Agent", last_name=e.split("@")[0][5:]) for e in emails if e not in existing]
    )
    people = list(User.objects.filter(email__in=emails).order_by("email"))
    members = set(Membership.objects.for_company(company).filter(user__in=people).values_list("user_id", flat=True))
    Membership.objects.bulk_create(
        [Membership(company=company, user=u, role=Role.AGENT) for u in people if u.pk not in members]
    )
    return company, owner, people


# --- 2. The plan ---------------------------------------------------------------------------------


def agent_mix(skill: float) -> dict[str, float]:
    """The grade mix of an agent of ``skill`` 0 (struggling) to 1 (excellent)."""
    return {
        "A": 2 + 7 * skill,
        "B": 3.0,
        "C": 2.5 - 1.5 * skill,
        "D": 1.5 - 1.0 * skill,
        "F": 2.0 - 1.6 * skill,
        "insufficient_evidence": 0.7,
    }


def plan(options: dict[str, Any], now: datetime, rng: random.Random) -> list[Planned]:
    """Every session: agent, start, target letter and face count (summing to ``--observations``)."""
    from zoneinfo import ZoneInfo

    from evaluations.grading import INSUFFICIENT

    tz = ZoneInfo(TIME_ZONE)
    count, total = options["sessions"], options["observations"]
    skills = [rng.random() for _ in range(options["agents"])]
    mixes = [agent_mix(s) for s in skills]
    today = now.astimezone(tz).date()
    days = [today - timedelta(days=n) for n in range(options["days"])]
    day_weights = [1.0 if d.weekday() < 5 else 0.3 if d.weekday() == 5 else 0.05 for d in days]
    planned: list[tuple[int, datetime, str]] = []
    while len(planned) < count:
        agent = rng.randrange(len(mixes))
        target = rng.choices(list(mixes[agent]), list(mixes[agent].values()))[0]
        day = rng.choices(days, day_weights)[0]
        minute = rng.randrange(8 * 60, 20 * 60)
        local = datetime(day.year, day.month, day.day, minute // 60, minute % 60, rng.randrange(60), tzinfo=tz)
        started = local.astimezone(UTC)
        if started < now - timedelta(minutes=15):
            planned.append((agent, started, target))
    planned.sort(key=lambda p: p[1])
    # Faces per session: insufficient-evidence sessions are short; the others share the rest,
    # each between half and one and a half of the mean, adjusted so the sum is exact.
    short = [rng.randrange(5, 16) for _ in planned]
    fixed = sum(n for n, (_, _, t) in zip(short, planned, strict=True) if t == INSUFFICIENT)
    graded = [i for i, (_, _, t) in enumerate(planned) if t != INSUFFICIENT]
    faces = [short[i] if planned[i][2] == INSUFFICIENT else 0 for i in range(len(planned))]
    if graded:
        mean = (total - fixed) / len(graded)
        if mean < 5:
            raise ScaleDataError("Too few observations for that many sessions.")
        raw = [rng.uniform(0.5, 1.5) for _ in graded]
        scale = (total - fixed) / sum(raw)
        for i, r in zip(graded, raw, strict=True):
            faces[i] = max(5, int(r * scale))
        # Spread the rounding difference one face at a time over the graded sessions.
        difference = total - sum(faces)
        step = 1 if difference > 0 else -1
        i = 0
        while difference:
            index = graded[i % len(graded)]
            if faces[index] + step >= 5:
                faces[index] += step
                difference -= step
            i += 1
    return [Planned(a, s, t, n) for (a, s, t), n in zip(planned, faces, strict=True)]


# --- 3. Rows -------------------------------------------------------------------------------------


def _pool(rubric: Rubric) -> dict[str, list[Reading]]:
    """The demo's real readings by group, keeping frames of exactly one face (one observation each)."""
    from evaluations import demo

    single = [r for r in demo.frame_pool() if len(r.result.faces) == 1]
    return demo.pool_by_group(single, rubric)


def _copy_field(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


FRAME_COLUMNS = (
    "company_id", "session_id", "sequence", "captured_at", "offset_seconds", "outcome", "faces", "error", "message",
)  # fmt: skip
OBSERVATION_COLUMNS = (
    "public_id", "company_id", "session_id", "frame_sequence", "captured_at", "offset_seconds", "face_index",
    "is_primary", "box_x", "box_y", "box_w", "box_h", "detection_score", "angry", "disgust", "fear", "happy", "sad",
    "surprise", "neutral", "dominant", "quality_flags", "model_version",
)  # fmt: skip


def _columns(model: Any) -> tuple[str, ...]:
    return tuple(field.column for field in model._meta.concrete_fields)


class Writer:
    """Rows of sessions, ledger and observations, written with PostgreSQL's COPY.

    Ledger and observation rows are formatted by hand (2 million of each); the columns are checked
    against the models first, so a new column fails here loudly instead of writing wrong rows.
    Sessions take ids reserved from their table's sequence, so their rows can be copied too.
    """

    def __init__(self) -> None:
        from django.db import connection

        from evaluations.models import EvaluationSession, Observation, SessionFrame

        if connection.vendor != "postgresql":
            raise ScaleDataError("This tool writes with PostgreSQL's COPY: run it in services mode.")
        for model, columns in ((SessionFrame, FRAME_COLUMNS), (Observation, OBSERVATION_COLUMNS)):
            if set(_columns(model)) - {"id"} != set(columns):
                raise ScaleDataError(f"{model.__name__}'s columns changed; update benchmarks/scale_data.py.")
        self.session_columns = _columns(EvaluationSession)
        self.tables = {
            "sessions": EvaluationSession._meta.db_table,
            "frames": SessionFrame._meta.db_table,
            "observations": Observation._meta.db_table,
        }
        self.rows: dict[str, list[str]] = {name: [] for name in self.tables}
        self._reading_text: dict[int, str] = {}

    def reserve_ids(self, count: int) -> list[int]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [self.tables["sessions"], count],
            )
            return [row[0] for row in cursor.fetchall()]

    def session(self, session: Any) -> None:
        self.rows["sessions"].append(
            "\t".join(_copy_field(getattr(session, f.attname)) for f in session._meta.concrete_fields)
        )

    def reading_text(self, reading: Reading) -> str:
        """The columns of an observation that depend only on the reading, formatted once."""
        key = id(reading)
        text = self._reading_text.get(key)
        if text is None:
            face = reading.result.faces[0]
            x, y, w, h = face.box
            values = (0, True, x, y, w, h, face.score, *face.probabilities, face.dominant, face.quality.flags(),
                      reading.result.model_version)  # fmt: skip
            text = self._reading_text[key] = "\t".join(_copy_field(v) for v in values)
        return text

    def frame(
        self, company_id: int, session_id: int, sequence: int, at: datetime, offset: float, reading: Reading
    ) -> None:
        stamp = at.isoformat()
        self.rows["frames"].append(f"{company_id}\t{session_id}\t{sequence}\t{stamp}\t{offset!r}\tprocessed\t1\t\t")
        self.rows["observations"].append(
            f"{uuid.uuid4()}\t{company_id}\t{session_id}\t{sequence}\t{stamp}\t{offset!r}\t{self.reading_text(reading)}"
        )

    def flush(self) -> None:
        from django.db import connection

        columns = {"sessions": self.session_columns, "frames": FRAME_COLUMNS, "observations": OBSERVATION_COLUMNS}
        with connection.connection.cursor() as cursor:  # psycopg 3: COPY, no INSERT per row
            for name in ("sessions", "frames", "observations"):  # parents first
                if not self.rows[name]:
                    continue
                sql = f"COPY {self.tables[name]} ({', '.join(columns[name])}) FROM STDIN"
                with cursor.copy(sql) as copy:
                    copy.write("\n".join(self.rows[name]) + "\n")
                self.rows[name] = []


def write(company: Company, people: list[User], planned: list[Planned], rng: random.Random) -> dict[str, int]:
    """Step 3: sessions, ledger rows and observations, batch by batch."""
    from evaluations import actions, demo, grading
    from evaluations.models import Channel, EvaluationSession, Status

    rubric_version = actions.current_rubric_version(company)
    rubric = rubric_version.rubric
    groups = _pool(rubric)
    writer = Writer()
    counts = {"sessions": 0, "observations": 0, "csat": 0}
    for start in range(0, len(planned), SESSION_BATCH):
        batch = planned[start : start + SESSION_BATCH]
        for number, (item, pk) in enumerate(zip(batch, writer.reserve_ids(len(batch)), strict=True), start=start):
            readings = demo.compose_frames(rng, item.target, groups, rubric, total=item.faces)
            frames = demo.spread_in_time(rng, readings, rubric, duration=item.faces * rng.uniform(2.0, 5.0))
            state = grading.GradeState()
            for sequence, (offset, reading) in enumerate(frames):
                state.add(grading.Frame(sequence, offset, tuple(reading.result.faces)), rubric)
            dropped = rng.choices([0, 1, 2, 5], [6, 2, 1, 1])[0]
            ended = item.started_at + timedelta(seconds=frames[-1][0] + rng.uniform(5, 40))
            session = EvaluationSession(
                pk=pk,
                company=company,
                agent=people[item.agent],
                customer_reference=f"SCALE-{number:06d}",
                channel=Channel.LIVE,
                status=Status.FINISHED,
                rubric_version=rubric_version,
                created_at=item.started_at,
                started_at=item.started_at,
                ended_at=ended,
                grade_state=state.to_json(),
                frames_received=item.faces + dropped,
                frames_dropped=dropped,
                frames_processed=item.faces,
                faces_observed=item.faces,
            )
            # The same snapshot, grade columns and trajectory finish_session writes.
            session.final_grade = actions.final_grade_snapshot(session, ended)
            grade = grading.summarize(state, rubric)
            actions.apply_grade(session, grade)
            moved = grading.trajectory(grade.timeline) if grade.letter else None
            session.trajectory = moved.kind if moved else ""
            session.final_grade["trajectory"] = (
                {"kind": moved.kind, "start_score": moved.start_score, "end_score": moved.end_score} if moved else None
            )
            if grade.letter and rng.random() < 0.33:
                session.csat = demo.csat_answer(rng, grade.score)
                session.csat_recorded_at = ended + timedelta(hours=rng.uniform(1, 30))
                counts["csat"] += 1
            writer.session(session)
            for sequence, (offset, reading) in enumerate(frames):
                writer.frame(company.pk, pk, sequence, item.started_at + timedelta(seconds=offset), offset, reading)
            counts["observations"] += len(frames)
            counts["sessions"] += 1
        writer.flush()
    return counts


def analyze() -> None:
    """Step 4: statistics for the planner, and (outside a transaction) the visibility map.

    ``VACUUM`` marks the freshly copied pages all-visible, as autovacuum does with rows that stopped
    changing; without it no index-only scan could skip the table (finished sessions rarely change).
    """
    from django.db import connection

    from evaluations.models import EvaluationSession, Observation, SessionFrame

    command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    with connection.cursor() as cursor:
        for model in (EvaluationSession, SessionFrame, Observation):
            cursor.execute(f"{command} {model._meta.db_table}")


def run(options: dict[str, Any], out: Any = sys.stdout) -> dict[str, Any]:
    """Create the data; print and return what was written and how long each step took."""
    from django.db import transaction

    from evaluations import demo

    check(options)
    rng = random.Random(options["seed"])  # noqa: S311  (reproducible data, not a secret)
    started = time.monotonic()
    demo.frame_pool()
    pool_seconds = time.monotonic() - started
    with transaction.atomic():
        company, owner, people = company_and_people(options["company"], options["agents"], options["replace"])
        planned = plan(options, datetime.now(UTC), rng)
        counts = write(company, people, planned, rng)
    write_seconds = time.monotonic() - started - pool_seconds
    analyze()
    total = time.monotonic() - started
    first, last = planned[0].started_at, planned[-1].started_at
    print(
        f"company {company.slug} (owner {owner.email}): {counts['sessions']} finished sessions "
        f"from {first:%Y-%m-%d} to {last:%Y-%m-%d}, {counts['observations']} observations and ledger rows, "
        f"{counts['csat']} CSAT answers, {len(people)} agents",
        file=out,
    )
    print(
        f"seconds: frame pool {pool_seconds:.1f}, sessions and rows {write_seconds:.1f}, "
        f"vacuum and analyze {total - pool_seconds - write_seconds:.1f}, total {total:.1f}",
        file=out,
    )
    return {**counts, "company": company.slug, "seconds": round(total, 1)}


def main(argv: list[str] | None = None) -> int:
    options = vars(build_parser().parse_args(argv))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moodsaas.settings")
    django.setup()
    try:
        run(options)
    except ScaleDataError as exc:
        print(f"scale_data: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
