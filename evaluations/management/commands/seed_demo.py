"""``manage.py seed_demo``: the demo company, its owner and agents, and a month of history. Idempotent.

The history's observations are the shipped model's real readings of sample photos
(``evaluations.demo`` says which, and how sessions are composed from them). The command lives in
``evaluations`` because the history does; ``accounts`` imports no other app.
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts import actions
from accounts.models import Actor, Company, Membership, Role, User
from evaluations import demo
from evaluations.demo import DEMO_COMPANY, DEMO_SLUG, DEMO_USERS

__all__ = ["DEMO_COMPANY", "DEMO_SLUG", "DEMO_USERS", "Command"]


class Command(BaseCommand):
    help = "Create (or refresh) the demo company, its owner and agents, a month of history, and print the logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off (publishes passwords!).")
        parser.add_argument(
            "--no-history", action="store_true", help="Only the company and its logins: no sessions (faster)."
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo creates users with published passwords; it runs only with DEBUG on (or --force)."
            )
        users: dict[Role, User] = {}
        for email, password, role in DEMO_USERS:
            user, _ = User.objects.get_or_create(email=email, defaults={"first_name": role.label, "last_name": "Demo"})
            if not user.check_password(password):  # a changed password only; hashing again would change the row
                user.set_password(password)
                user.save(update_fields=["password"])
            EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
            users[role] = user
        company = Company.objects.filter(slug=DEMO_SLUG).first()
        if company is None:
            company = actions.create_company(name=DEMO_COMPANY, owner=users[Role.OWNER], slug=DEMO_SLUG)
        system = Actor()
        for _, _, role in DEMO_USERS:
            if not Membership.objects.for_company(company).filter(user=users[role]).exists():
                actions.add_member(actor=system, company=company, user=users[role], role=role)
        self.stdout.write(self.style.SUCCESS(f"Demo company: {company.name}"))
        if not options["no_history"]:
            self._history(company)
        for email, password, role in DEMO_USERS:
            self.stdout.write(f"  {role.label:<6} login: {email}  password: {password}")

    def _history(self, company: Company) -> None:
        if demo.has_history(company):
            self.stdout.write("  History: already seeded (sessions with DEMO- references exist).")
            return
        if importlib.util.find_spec("skimage") is None:  # a dev dependency: `make run` installs it
            raise CommandError("The demo history needs the photos scikit-image ships: pip install -e '.[dev]'.")
        started = time.monotonic()
        seeded = demo.seed_history(company)
        pool = len(demo.frame_pool())
        self.stdout.write(
            f"  History: {seeded.sessions} finished sessions over {demo.DEMO_DAYS} days, "
            f"{seeded.observations} observations read by {seeded.model_version} from {pool} real frames "
            f"({time.monotonic() - started:.1f} s)."
        )
        for letter in seeded.missing:
            self.stdout.write(self.style.WARNING(f"  No frame of the pool reads as grade {letter}: none seeded."))
