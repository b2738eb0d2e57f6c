"""Fail-loudly, company-scoped managers for tenant-owned models.

``Model.objects`` raises :class:`TenancyError` when a query runs without a company:
use ``Model.objects.for_company(company)`` (or ``for_company_id(id)`` in workers, which hold ids).
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


class CompanyScopedQuerySet(models.QuerySet[_M]):
    """A queryset that refuses to run until it is scoped to one company.

    ``Model.objects.filter(...)`` without ``for_company()`` raises :class:`TenancyError` when it is
    evaluated (or used as a subquery), so a forgotten scope fails the first test that reaches it
    instead of quietly returning no rows. Inserts (``create``, ``bulk_create``) name their company
    explicitly and are allowed.
    """

    _company_scoped = False

    def _clone(self) -> CompanyScopedQuerySet[_M]:
        clone = super()._clone()  # type: ignore[misc]
        clone._company_scoped = self._company_scoped
        return clone  # type: ignore[no-any-return]

    def _scoped(self) -> CompanyScopedQuerySet[_M]:
        clone = self._clone()
        clone._company_scoped = True
        return clone

    def _require_scope(self) -> None:
        if not self._company_scoped:
            raise TenancyError(
                f"{self.model.__name__}.objects was queried without a company: use "
                f".for_company(company) or .for_company_id(id) (or unscoped_objects, with a comment saying why)"
            )

    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._require_scope()
        super()._fetch_all()

    def __repr__(self) -> str:
        if not self._company_scoped:
            return f"<{type(self).__name__} of {self.model.__name__}, not scoped to a company (never evaluated)>"
        return super().__repr__()

    def none(self) -> CompanyScopedQuerySet[_M]:
        # An empty result cannot leak another company's rows.
        return super().none()._scoped()

    def resolve_expression(self, *args: Any, **kwargs: Any) -> Any:
        self._require_scope()  # used as a subquery
        return super().resolve_expression(*args, **kwargs)


def _guard(name: str) -> Any:
    def method(self: CompanyScopedQuerySet[Any], *args: Any, **kwargs: Any) -> Any:
        self._require_scope()
        return getattr(models.QuerySet, name)(self, *args, **kwargs)

    method.__name__ = name
    return method


# Every way of reading or changing existing rows that does not go through _fetch_all.
for _name in ("count", "exists", "aggregate", "update", "delete", "iterator", "contains", "explain", "in_bulk"):
    setattr(CompanyScopedQuerySet, _name, _guard(_name))


class CompanyScopedManager(models.Manager[_M]):
    """Default manager of tenant-owned models: a query without a company raises."""

    def get_queryset(self) -> CompanyScopedQuerySet[_M]:
        return CompanyScopedQuerySet(self.model, using=self._db)

    def for_company(self, company: Company) -> CompanyScopedQuerySet[_M]:
        """Return the rows owned by ``company``."""
        if company is None or getattr(company, "pk", None) is None:
            raise TenancyError(f"{self.model.__name__}.objects.for_company() needs a saved company, got {company!r}")
        return self.get_queryset()._scoped().filter(company=company)

    def for_company_id(self, company_id: int) -> CompanyScopedQuerySet[_M]:
        """Return the rows owned by the company with primary key ``company_id`` (workers hold ids)."""
        if not isinstance(company_id, int) or isinstance(company_id, bool):
            raise TenancyError(
                f"{self.model.__name__}.objects.for_company_id() needs an integer id, got {company_id!r}"
            )
        return self.get_queryset()._scoped().filter(company_id=company_id)


class MembershipManager(CompanyScopedManager[_M]):
    """Memberships are also read per user: a user's own companies, for switching."""

    def for_user(self, user: AbstractBaseUser | Any) -> models.QuerySet[_M]:
        """Return the memberships of ``user`` across all their companies."""
        if user is None or not getattr(user, "is_authenticated", False):
            raise TenancyError("Membership.objects.for_user() needs an authenticated user")
        # A user's own memberships, across companies: scoped by the user instead of a company.
        return self.get_queryset()._scoped().filter(user=user)


class AppendOnlyQuerySet(models.QuerySet[_M]):
    """Queryset that refuses bulk updates and deletes."""

    def update(self, **kwargs: Any) -> int:
        raise TypeError(f"{self.model.__name__} is append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError(f"{self.model.__name__} is append-only")


class ScopedAppendOnlyQuerySet(AppendOnlyQuerySet[_M], CompanyScopedQuerySet[_M]):  # type: ignore[override]
    """The audit log's default queryset: append-only and company-scoped."""


class AuditEventManager(CompanyScopedManager[_M]):
    def get_queryset(self) -> ScopedAppendOnlyQuerySet[_M]:
        return ScopedAppendOnlyQuerySet(self.model, using=self._db)


class UnscopedAuditEventManager(models.Manager[_M]):
    def get_queryset(self) -> models.QuerySet[_M]:
        return AppendOnlyQuerySet(self.model, using=self._db)
