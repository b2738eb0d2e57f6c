"""``manage.py seed_demo``: the demo company with an owner and an agent. Idempotent."""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts import actions
from accounts.models import Actor, Company, Membership, Role, User

DEMO_COMPANY = "Demo Support Co"
DEMO_SLUG = "demo-support-co"
# Published on purpose: embedded demo only. The command refuses to run with DEBUG off.
DEMO_USERS = (
    ("owner@demo.moodsaas.test", "demo-owner-password", Role.OWNER),
    ("agent@demo.moodsaas.test", "demo-agent-password", Role.AGENT),
)


class Command(BaseCommand):
    help = "Create (or refresh) the demo company, its owner and agent, and print their logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off (publishes passwords!).")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo creates users with published passwords; it runs only with DEBUG on (or --force)."
            )
        users: dict[Role, User] = {}
        for email, password, role in DEMO_USERS:
            user, _ = User.objects.get_or_create(email=email, defaults={"first_name": role.label, "last_name": "Demo"})
            user.set_password(password)
            user.save()
            EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
            users[role] = user
        company = Company.objects.filter(slug=DEMO_SLUG).first()
        if company is None:
            # No company has the slug yet, so create_company derives exactly DEMO_SLUG from the name.
            company = actions.create_company(name=DEMO_COMPANY, owner=users[Role.OWNER])
        system = Actor()
        for _, _, role in DEMO_USERS:
            if not Membership.objects.for_company(company).filter(user=users[role]).exists():
                actions.add_member(actor=system, company=company, user=users[role], role=role)
        self.stdout.write(self.style.SUCCESS(f"Demo company: {company.name}"))
        for email, password, role in DEMO_USERS:
            self.stdout.write(f"  {role.label:<6} login: {email}  password: {password}")
