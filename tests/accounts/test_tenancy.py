"""The fail-closed managers and the scoped viewset base."""

from __future__ import annotations

import pytest
from rest_framework import mixins

from accounts.managers import TenancyError
from accounts.models import ApiToken, Company, Invitation, Membership, User
from accounts.tenancy import CompanyScopedViewSet


def test_the_default_manager_sees_nothing_without_a_company(alice: User, charlie: User) -> None:
    assert Membership.unscoped_objects.count() == 3
    assert Membership.objects.count() == 0
    assert list(Membership.objects.all()) == []
    assert Invitation.objects.filter(email="x@y.test").count() == 0


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
