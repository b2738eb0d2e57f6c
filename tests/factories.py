"""factory-boy factories for the accounts models. Shared by every app's tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import factory
from allauth.account.models import EmailAddress

from accounts import actions
from accounts.models import Actor, ApiToken, Company, Membership, Role, TokenScope, User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")

    @factory.post_generation
    def password(obj: User, create: bool, extracted: str | None, **kwargs: Any) -> None:
        obj.set_password(extracted or PASSWORD)
        if create:
            obj.save(update_fields=["password"])

    @factory.post_generation
    def verified(obj: User, create: bool, extracted: bool | None, **kwargs: Any) -> None:
        """Users have a verified primary e-mail unless ``verified=False``."""
        if create and extracted is not False:
            EmailAddress.objects.create(user=obj, email=obj.email, verified=True, primary=True)


class CompanyFactory(factory.django.DjangoModelFactory[Company]):
    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"Company {n}")
    slug = factory.Sequence(lambda n: f"company-{n}")


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    company = factory.SubFactory(CompanyFactory)
    role = Role.AGENT


@dataclass(frozen=True)
class IssuedToken:
    """An API token row and its one-time secret (for ``Authorization: Bearer``)."""

    token: ApiToken
    secret: str

    @property
    def header(self) -> str:
        return f"Bearer {self.secret}"


def issue_token(company: Company, scope: TokenScope = TokenScope.READ_WRITE, name: str = "test token") -> IssuedToken:
    """Create a token through the real action (so it is hashed and audited like any other)."""
    token, secret = actions.create_api_token(actor=Actor(), company=company, name=name, scope=scope)
    return IssuedToken(token, secret)
