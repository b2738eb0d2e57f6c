"""``manage.py seed_demo``."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.management.commands.seed_demo import DEMO_USERS
from accounts.models import AuditEvent, Company, Membership, Role, User


def _seed(**kwargs) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **kwargs)
    return out.getvalue()


def test_seeding_creates_the_demo_company_and_prints_the_logins(db, settings) -> None:
    settings.DEBUG = True
    output = _seed()
    company = Company.objects.get(slug="demo-support-co")
    assert company.name == "Demo Support Co"
    roles = {m.user.email: m.role for m in Membership.objects.for_company(company).select_related("user")}
    assert roles == {"owner@demo.moodsaas.test": Role.OWNER, "agent@demo.moodsaas.test": Role.AGENT}
    for email, password, _ in DEMO_USERS:
        assert email in output
        assert password in output
        assert User.objects.get(email=email).check_password(password)


def test_seeding_twice_changes_nothing(db, settings) -> None:
    settings.DEBUG = True
    _seed()
    events = AuditEvent.unscoped_objects.count()
    _seed()
    assert Company.objects.filter(slug="demo-support-co").count() == 1
    assert Membership.unscoped_objects.count() == 2
    assert AuditEvent.unscoped_objects.count() == events


def test_seeding_refuses_to_run_without_debug(db, settings) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only with DEBUG on"):
        _seed()
    assert User.objects.count() == 0


def test_the_seeded_owner_can_log_in(client, db, settings) -> None:
    settings.DEBUG = True
    _seed()
    response = client.post("/accounts/login/", {"login": "owner@demo.moodsaas.test", "password": "demo-owner-password"})
    assert response.status_code == 302
    assert "Demo Support Co" in client.get("/company/").content.decode()
