"""``manage.py seed_demo``: the demo company, its logins and a month of history read by the real model."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Company, Membership, Role, User
from evaluations import analytics, demo
from evaluations.grading import INSUFFICIENT, LETTERS
from evaluations.management.commands.seed_demo import DEMO_USERS
from evaluations.models import EvaluationSession, Observation, SessionFrame, Status
from inference import registry
from notifications.models import Event

PORTAL_PAGES = ("company", "portal", "portal-sessions", "portal-agents")
BANNER = "Demo data: generated from real model readings of sample photos."


@pytest.fixture(autouse=True)
def _shipped_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The repository's registry, whatever model an earlier test of this process activated."""
    import time

    monkeypatch.setenv("MOODSAAS_MODEL_DIR", str(registry.REPO_MODELS))
    time.sleep(1.1)  # the process-wide classifier re-reads the registry pointer at most once a second


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def _demo() -> Company:
    return Company.objects.get(slug="demo-support-co")


def test_seeding_creates_the_demo_company_and_prints_the_logins(db, settings) -> None:
    settings.DEBUG = True
    output = _seed("--no-history")
    company = _demo()
    assert company.name == "Demo Support Co"
    roles = {m.user.email: m.role for m in Membership.objects.for_company(company).select_related("user")}
    assert roles == {"owner@demo.moodsaas.test": Role.OWNER, "agent@demo.moodsaas.test": Role.AGENT}
    for email, password, _ in DEMO_USERS:
        assert email in output
        assert password in output
        assert User.objects.get(email=email).check_password(password)


def test_the_history_is_a_month_of_every_grade_read_by_the_active_model(client, db, settings) -> None:
    settings.DEBUG = True
    before = timezone.now()
    output = _seed()
    company = _demo()
    assert company.time_zone == "Europe/Madrid"
    sessions = EvaluationSession.objects.for_company(company)
    assert sessions.filter(status=Status.FINISHED).count() == sessions.count() >= 100
    assert f"{sessions.count()} finished sessions" in output
    # Every grade, and some sessions without enough evidence.
    letters = Counter(sessions.values_list("grade_letter", flat=True))
    assert set(letters) == {*LETTERS, INSUFFICIENT}
    # Five named agents, all members, each with a history.
    agents = Counter(sessions.values_list("agent__email", flat=True))
    assert len(agents) == 5 and min(agents.values()) >= 20
    assert Membership.objects.for_company(company).filter(user__email__in=agents, role=Role.AGENT).count() == 5
    # The last 30 days, in working hours of Madrid, finished a few minutes after they started.
    madrid = ZoneInfo("Europe/Madrid")
    for started, ended in sessions.values_list("started_at", "ended_at"):
        assert before - timedelta(days=30) < started < before
        assert 9 <= started.astimezone(madrid).hour < 19
        assert ended is not None
        assert timedelta(minutes=1) < ended - started < timedelta(minutes=10)
    # Every observation is the active model's reading of a frame of the pool: nothing invented.
    observations = Observation.objects.for_company(company)
    assert set(observations.values_list("model_version", flat=True)) == {registry.active_version()}
    readings = {face.probabilities for reading in demo.frame_pool() for face in reading.result.faces}
    stored = set(observations.values_list("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"))
    assert stored <= readings
    assert observations.count() == sum(sessions.values_list("faces_observed", flat=True))
    frames = SessionFrame.objects.for_company(company)
    assert frames.count() == sum(sessions.values_list("frames_processed", flat=True))
    # Enough CSAT answers for the calibration to show a number, which agrees but not perfectly.
    assert sessions.filter(csat__isnull=False).count() >= 20
    calibration = analytics.calibration(sessions)
    assert calibration.enough and calibration.spearman is not None and 0.2 < calibration.spearman < 0.95
    # Every session is recorded with a customer reference saying it is demo data.
    assert not sessions.exclude(customer_reference__startswith="DEMO-").exists()
    # A backfilled month is not news: no notification event, e-mail or webhook about it.
    assert not Event.objects.for_company(company).exists()
    # A session's page names the model that read it, once, and says it is demo data.
    client.force_login(User.objects.get(email="owner@demo.moodsaas.test"))
    page = client.get(reverse("portal-session", kwargs={"session_id": sessions.first().public_id}))  # type: ignore[union-attr]
    assert page.context["model_version"] == registry.active_version()
    assert BANNER in page.content.decode()


def test_seeding_twice_changes_nothing(db, settings) -> None:
    settings.DEBUG = True
    _seed()
    company = _demo()

    def state() -> dict[str, object]:
        return {
            "events": AuditEvent.unscoped_objects.count(),
            "members": list(Membership.unscoped_objects.order_by("pk").values()),
            "users": list(User.objects.order_by("pk").values()),
            "company": Company.objects.filter(pk=company.pk).values().get(),
            "sessions": list(EvaluationSession.objects.for_company(company).order_by("pk").values()),
            "observations": Observation.objects.for_company(company).count(),
            "frames": SessionFrame.objects.for_company(company).count(),
        }

    first = state()
    output = _seed()
    assert "already seeded" in output
    assert Company.objects.filter(slug="demo-support-co").count() == 1
    assert state() == first


def test_seeding_refuses_to_run_without_debug(db, settings) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only with DEBUG on"):
        _seed()
    assert User.objects.count() == 0


def test_the_seeded_owner_can_log_in_and_every_page_says_it_is_demo_data(client, db, settings) -> None:
    settings.DEBUG = True
    _seed("--no-history")
    response = client.post("/accounts/login/", {"login": "owner@demo.moodsaas.test", "password": "demo-owner-password"})
    assert response.status_code == 302
    assert "Demo Support Co" in client.get(reverse("company")).content.decode()
    for url in PORTAL_PAGES:
        assert BANNER in client.get(reverse(url)).content.decode(), url


def test_another_companys_pages_do_not_say_demo_data(alice, db, settings) -> None:
    settings.DEBUG = True
    _seed("--no-history")
    client = Client()
    client.force_login(alice)
    for url in PORTAL_PAGES:
        page = client.get(reverse(url))
        assert page.status_code == 200
        assert BANNER not in page.content.decode(), url


def test_a_real_company_named_like_the_demo_never_gets_the_demo_slug(db: None) -> None:
    from accounts.actions import create_company
    from tests.factories import UserFactory

    company = create_company(name="Demo Support Co", owner=UserFactory.create())
    assert company.slug != "demo-support-co" and company.slug.startswith("demo-support-co-")
