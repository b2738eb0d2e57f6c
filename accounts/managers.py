"""Fail-closed, company-scoped managers for tenant-owned models.

``Model.objects`` sees no rows until a company is given: ``Model.objects.for_company(company)``.
``Model.unscoped_objects`` is the explicit escape hatch for authentication, admin and
maintenance jobs; grep for it when reviewing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models

if TYPE_CHECKING:
    from accounts.models import Company

_M = TypeVar("_M", bound=models.Model)


class TenancyError(RuntimeError):
    """A tenant-owned query was attempted without a company in scope."""


class CompanyScopedManager(models.Manager[_M]):
    """Default manager of tenant-owned models: an unscoped query returns nothing."""

    def get_queryset(self) -> models.QuerySet[_M]:
        # Fail closed: forgetting .for_company() yields an empty result, never another tenant's rows.
        return super().get_queryset().none()

    def for_company(self, company: Company) -> models.QuerySet[_M]:
        """Return the rows owned by ``company``."""
        if company is None or getattr(company, "pk", None) is None:
            raise TenancyError(f"{self.model.__name__}.objects.for_company() needs a saved company, got {company!r}")
        return super().get_queryset().filter(company=company)


class MembershipManager(CompanyScopedManager[_M]):
    """Memberships are also read per user: a user's own companies, for switching."""

    def for_user(self, user: AbstractBaseUser | Any) -> models.QuerySet[_M]:
        """Return the memberships of ``user`` across all their companies."""
        if user is None or not getattr(user, "is_authenticated", False):
            raise TenancyError("Membership.objects.for_user() needs an authenticated user")
        return super(CompanyScopedManager, self).get_queryset().filter(user=user)


class AppendOnlyQuerySet(models.QuerySet[_M]):
    """Queryset that refuses bulk updates and deletes."""

    def update(self, **kwargs: Any) -> int:
        raise TypeError(f"{self.model.__name__} is append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError(f"{self.model.__name__} is append-only")


class AuditEventManager(CompanyScopedManager[_M]):
    def get_queryset(self) -> models.QuerySet[_M]:
        return AppendOnlyQuerySet(self.model, using=self._db).none()

    def for_company(self, company: Company) -> models.QuerySet[_M]:
        if company is None or getattr(company, "pk", None) is None:
            raise TenancyError(f"AuditEvent.objects.for_company() needs a saved company, got {company!r}")
        return AppendOnlyQuerySet(self.model, using=self._db).filter(company=company)


class UnscopedAuditEventManager(models.Manager[_M]):
    def get_queryset(self) -> models.QuerySet[_M]:
        return AppendOnlyQuerySet(self.model, using=self._db)
