"""How long the period PDF takes for a company: the whole request, and its three parts.

Usage (the database the environment points at, embedded mode by default)::

    MOODSAAS_MODE=embedded .venv/bin/python scripts/bench_reports.py [--company SLUG] [--days 90] [--runs 5]

It signs in as the company's owner (``manage.py seed_demo``'s demo company by default), asks for
the last ``--days`` days' PDF through the whole Django stack ``--runs`` times after one warm-up,
then times the parts of one report separately: the figures (database), the HTML (template and
SVG charts) and the PDF (WeasyPrint layout and writing). It prints numbers and asserts nothing;
the target of issue 13 is at most 5 s for 90 days of a company with 20,000 sessions.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moodsaas.settings")
os.environ.setdefault("MOODSAAS_MODE", "embedded")

import django  # after sys.path and the settings module are set

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.template.loader import render_to_string  # noqa: E402
from django.test import Client, RequestFactory  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import translation  # noqa: E402

from accounts.models import Company, Membership, Role  # noqa: E402
from accounts.tenancy import Tenant  # noqa: E402
from evaluations import analytics  # noqa: E402
from frontend import pdf  # noqa: E402
from frontend.views import reports  # noqa: E402

DEMO_SLUG = "demo-support-co"


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def host() -> str:
    allowed = [h.lstrip(".") for h in settings.ALLOWED_HOSTS if h != "*"]
    return allowed[0] if allowed else "localhost"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--company", default=DEMO_SLUG, help="the company's slug (default: the demo company)")
    parser.add_argument("--days", type=int, choices=analytics.PERIOD_CHOICES, default=90)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()

    company = Company.objects.filter(slug=options.company).first()
    if company is None:
        sys.exit(f"No company {options.company!r}: run `manage.py seed_demo` or pass --company.")
    owner = (
        Membership.objects.for_company(company).filter(role=Role.OWNER).select_related("user").order_by("id").first()
    )
    if owner is None:
        sys.exit(f"{company.name} has no owner to sign in as.")
    period = analytics.period_for(company, str(options.days))
    sessions = analytics.finished_in(company, period).count()
    say(
        f"{company.name}: {sessions} finished sessions in the last {options.days} days ({period.first} to {period.last})"
    )

    # 1. The whole request, as a browser makes it.
    client = Client(HTTP_HOST=host())
    client.force_login(owner.user)
    url = reverse("portal-period-report-pdf")
    query = {"period": str(options.days)}
    first = client.get(url, query)  # warm-up: templates, fonts, per-process caches
    if first.status_code != 200:
        sys.exit(f"The report answered {first.status_code}.")
    timings = []
    for _ in range(options.runs):
        start = time.perf_counter()
        response = client.get(url, query)
        timings.append(time.perf_counter() - start)
        assert response.status_code == 200
    from pypdf import PdfReader  # here: a dev dependency, needed only for the page count

    pages = len(PdfReader(io.BytesIO(response.content)).pages)
    say(f"request  runs={options.runs}  median={statistics.median(timings):.3f}s  max={max(timings):.3f}s")
    say(f"         {pages} pages, {len(response.content) / 1024:.0f} KiB")

    # 2. Its parts, once each (the same code the view runs).
    settings.DEBUG = True  # count queries
    reset_queries()
    tenant = Tenant(company=company, role=Role.OWNER, user=owner.user, membership=owner)
    start = time.perf_counter()
    context = reports.period_report(tenant, period)
    bad = context.pop("bad_sessions")
    context |= {
        "generated_at": reports._generated(period.tz),
        "bad_count": bad.count(),
        "bad_sessions": list(bad.select_related("agent").order_by("-started_at", "-id")[: reports.DF_LIMIT]),
        "bad_limit": reports.DF_LIMIT,
    }
    figures = time.perf_counter() - start
    queries = len(connection.queries)
    request = RequestFactory().get(url, query, HTTP_HOST=host())
    request.user = owner.user
    request._moodsaas_tenant = tenant  # type: ignore[attr-defined]  # what portal_page caches
    with translation.override(settings.LANGUAGE_CODE):
        start = time.perf_counter()
        html = render_to_string("frontend/reports/period.html", context, request=request)
        rendered = time.perf_counter() - start
        from weasyprint import HTML  # here, as in frontend/pdf.py

        start = time.perf_counter()
        HTML(string=html, base_url=pdf.BASE_URL, url_fetcher=pdf._fetcher()).write_pdf()
        written = time.perf_counter() - start
    say(f"parts    figures={figures:.3f}s ({queries} queries)  html={rendered:.3f}s  pdf={written:.3f}s")


if __name__ == "__main__":
    main()
