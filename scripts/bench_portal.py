"""Server time of the portal's heaviest pages for a big company: dashboard, history, CSV export.

Usage (services mode against the database the scale data went into)::

    python -m benchmarks.scale_data --company scale-test --sessions 20000 --observations 2000000
    .venv/bin/python scripts/bench_portal.py --company scale-test [--requests 30] [--explain]

It signs in as the company's owner with Django's test client and asks for each page through the
whole Django stack (middleware, view, queries, template), in this process: the time is the
server's, without network or ASGI. Each page gets ``--warmup`` requests first, then
``--requests`` timed ones (the CSV export, 20,000 rows, ``--csv-requests``); the body of a
streamed response is read to the end inside the timing. It prints p50, p95 and max per page, the
queries one request makes and their database time, and asserts nothing; the target of issue 13
is a dashboard p95 of at most 300 ms for a 90-day period. ``--explain`` prints PostgreSQL's
``EXPLAIN ANALYZE`` of the dashboard's slowest queries.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moodsaas.settings")

import django  # after sys.path and the settings module are set

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402

from accounts.models import Company, Membership, Role  # noqa: E402
from evaluations import analytics  # noqa: E402
from evaluations.models import EvaluationSession, Observation  # noqa: E402


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def host() -> str:
    allowed = [h.lstrip(".") for h in settings.ALLOWED_HOSTS if h != "*"]
    return allowed[0] if allowed else "localhost"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def fetch(client: Client, url: str) -> tuple[float, int, int]:
    """One request read to its end: (seconds, status, bytes)."""
    start = time.perf_counter()
    response = client.get(url)
    body = response.streaming_content if response.streaming else [response.content]  # type: ignore[attr-defined]
    size = sum(len(chunk) for chunk in body)
    return time.perf_counter() - start, response.status_code, size


def measure(client: Client, name: str, url: str, warmup: int, requests: int) -> dict[str, Any]:
    for _ in range(warmup):
        _, status, _ = fetch(client, url)
        if status != 200:
            sys.exit(f"{name}: {url} answered {status}.")
    timings = []
    size = 0
    for _ in range(requests):
        seconds, status, size = fetch(client, url)
        assert status == 200, (name, status)
        timings.append(seconds * 1000)
    with CaptureQueriesContext(connection) as queries:  # separately: capturing has a cost of its own
        fetch(client, url)
    database = sum(float(q["time"]) for q in queries.captured_queries) * 1000
    row = {
        "page": name,
        "n": requests,
        "p50": statistics.median(timings),
        "p95": percentile(timings, 95),
        "max": max(timings),
        "queries": len(queries.captured_queries),
        "db_ms": database,
        "kib": size / 1024,
    }
    say(
        f"{name:<28} {requests:>3}  {row['p50']:>8.1f}  {row['p95']:>8.1f}  {row['max']:>8.1f}  "
        f"{row['queries']:>7}  {database:>7.1f}  {row['kib']:>8.0f}"
    )
    return row


def explain(client: Client, url: str, top: int) -> None:
    """EXPLAIN ANALYZE of the slowest SELECTs one request makes."""
    with CaptureQueriesContext(connection) as queries:
        fetch(client, url)
    slowest = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:top]
    for query in slowest:
        sql = query["sql"]
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        say(f"\n-- {float(query['time']) * 1000:.1f} ms: {sql[:300]}{'...' if len(sql) > 300 else ''}")
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            for (line,) in cursor.fetchall():
                say(f"   {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--company", default="scale-test", help="the company's slug (default scale-test)")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests first (default 3)")
    parser.add_argument("--csv-requests", type=int, default=5, help="timed CSV exports (default 5)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the dashboard's slowest queries")
    options = parser.parse_args()

    company = Company.objects.filter(slug=options.company).first()
    if company is None:
        sys.exit(f"No company {options.company!r}: run `python -m benchmarks.scale_data` first.")
    owner = (
        Membership.objects.for_company(company).filter(role=Role.OWNER).select_related("user").order_by("id").first()
    )
    if owner is None:
        sys.exit(f"{company.name} has no owner to sign in as.")
    period = analytics.period_for(company, "90")
    in_period = analytics.finished_in(company, period).count()
    say(f"date      {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    say(f"machine   {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {cpu_model()}")
    say(f"load      {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min) before")
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()
    say(f"database  {connection.vendor} {version[0] if version else '?'}, {connection.settings_dict['NAME']}")
    say(
        f"company   {company.slug}: {EvaluationSession.objects.for_company(company).count()} sessions, "
        f"{Observation.objects.for_company(company).count()} observations; {in_period} finished in the last "
        f"90 days ({period.first} to {period.last}, {company.time_zone})"
    )
    say(f"DEBUG     {settings.DEBUG} (should be False: a debug cursor records every query)")

    client = Client(HTTP_HOST=host())
    client.force_login(owner.user)
    say()
    say(f"{'page':<28} {'n':>3}  {'p50 ms':>8}  {'p95 ms':>8}  {'max ms':>8}  {'queries':>7}  {'db ms':>7}  {'KiB':>8}")
    pages = [
        ("dashboard, 90 days", reverse("portal") + "?period=90", options.requests),
        ("dashboard, 30 days", reverse("portal") + "?period=30", options.requests),
        ("agents, 90 days", reverse("portal-agents") + "?period=90", options.requests),
        ("history, page 1", reverse("portal-sessions"), options.requests),
        ("history, by score, page 40", reverse("portal-sessions") + "?sort=-score&page=40", options.requests),
        ("history, grade F, 90 days", reverse("portal-sessions") + f"?grade=F&first={period.first}", options.requests),
        ("CSV export, every session", reverse("portal-sessions-export"), options.csv_requests),
    ]
    rows = [measure(client, name, url, options.warmup, n) for name, url, n in pages]
    say()
    dashboard = rows[0]
    verdict = "meets" if dashboard["p95"] <= 300 else "MISSES"
    say(f"dashboard 90-day p95 {dashboard['p95']:.1f} ms {verdict} the 300 ms target")
    say(f"load      {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min) after")
    if options.explain:
        explain(client, pages[0][1], top=6)


if __name__ == "__main__":
    main()
