"""The fail-loudly managers and the scoped viewset base."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db.models import Count
from django.utils import timezone
from rest_framework import mixins

from accounts.managers import TenancyError
from accounts.models import ApiToken, AuditEvent, Company, Invitation, Membership, User
from accounts.tenancy import CompanyScopedViewSet
from evaluations.models import EvaluationSession


@pytest.mark.parametrize(
    "query",
    [
        lambda: Membership.objects.count(),
        lambda: list(Membership.objects.all()),
        lambda: Membership.objects.filter(role="owner").first(),
        lambda: Membership.objects.get(pk=1),
        lambda: Membership.objects.exists(),
        lambda: Membership.objects.aggregate(n=Count("pk")),
        lambda: Membership.objects.update(role="owner"),
        lambda: Membership.objects.all().delete(),
        lambda: list(Membership.objects.values_list("pk", flat=True)),
        lambda: list(Company.objects.filter(pk__in=Membership.objects.values("company"))),
        lambda: Invitation.objects.filter(email="x@y.test").count(),
        lambda: list(AuditEvent.objects.all()),
        lambda: list(EvaluationSession.objects.filter(status="open")),
    ],
    ids=[
        "count", "iterate", "first", "get", "exists", "aggregate", "update", "delete", "values_list", "subquery",
        "filter_count", "audit_log", "sessions",
    ],
)  # fmt: skip
def test_the_default_manager_raises_when_a_query_names_no_company(
    alice: User, charlie: User, query: Callable[[], object]
) -> None:
    with pytest.raises(TenancyError, match="without a company"):
        query()
    assert Membership.unscoped_objects.filter(role="owner").count() == 2  # nothing was changed


def test_a_scoped_query_and_an_insert_need_no_escape_hatch(company_a: Company, alice: User) -> None:
    assert Membership.objects.for_company_id(company_a.pk).count() == 2  # the owner and alice
    assert list(Membership.objects.none()) == []
    assert "not scoped" in repr(Membership.objects.all())
    Invitation.objects.create(
        company=company_a,
        email="new@a.test",
        role="agent",
        invited_by=alice,
        token_hash="x" * 64,
        expires_at=timezone.now(),
    )
    assert Invitation.objects.for_company(company_a).filter(email="new@a.test").exists()


def test_for_company_id_refuses_anything_but_an_integer(db: None) -> None:
    for bad in (None, "1", True):
        with pytest.raises(TenancyError):
            ApiToken.objects.for_company_id(bad)  # type: ignore[arg-type]


def test_for_company_returns_only_that_companys_rows(
    company_a: Company, company_b: Company, alice: User, bob: User, charlie: User
) -> None:
    emails_a = set(Membership.objects.for_company(company_a).values_list("user__email", flat=True))
    emails_b = set(Membership.objects.for_company(company_b).values_list("user__email", flat=True))
    assert emails_a == {"owner@a.test", "alice@a.test", "bob@a.test"}
    assert emails_b == {"charlie@b.test"}


def test_for_company_refuses_a_missing_company(db: None) -> None:
    with pytest.raises(TenancyError):
        ApiToken.objects.for_company(None)  # type: ignore[arg-type]
    with pytest.raises(TenancyError):
        ApiToken.objects.for_company(Company(name="unsaved"))


def test_for_user_lists_a_users_memberships_across_companies(company_b: Company, alice: User) -> None:
    Membership.unscoped_objects.create(user=alice, company=company_b, role="agent")
    assert Membership.objects.for_user(alice).count() == 2


def test_a_scoped_viewset_cannot_override_get_queryset() -> None:
    with pytest.raises(TypeError, match="may not override get_queryset"):

        class Leaky(mixins.ListModelMixin, CompanyScopedViewSet[Membership]):
            model = Membership

            def get_queryset(self):
                return Membership.unscoped_objects.all()


def test_a_scoped_viewset_cannot_override_get_object_or_set_a_queryset() -> None:
    with pytest.raises(TypeError, match="may not override get_object"):

        class Leaky(CompanyScopedViewSet[Membership]):
            model = Membership

            def get_object(self):
                return None

    with pytest.raises(TypeError, match="may not set queryset"):

        class Leaky2(CompanyScopedViewSet[Membership]):
            model = Membership
            queryset = Membership.unscoped_objects.all()
