"""Tenancy enforcement: which company a request acts for, and the one scoped viewset base.

How another app uses it (e.g. evaluations):

1. Models: inherit ``accounts.models.CompanyOwned`` (adds ``company`` and the managers), or
   declare ``company = ForeignKey(Company)``, ``objects = CompanyScopedManager()`` and
   ``unscoped_objects = models.Manager()``. A query through ``Model.objects`` without a company
   raises ``TenancyError``; use ``Model.objects.for_company(company)`` (``for_company_id(id)``
   in workers).
2. API: subclass ``CompanyScopedViewSet`` (plus DRF mixins), set ``model`` and
   ``minimum_role`` (per HTTP method), and implement ``base_queryset(company)``.
   ``get_queryset``/``get_object`` are final: they always add ``company=<the request's company>``,
   so another company's id is a 404, exactly like a missing one. Use ``self.tenant`` (company,
   role, user, token) and ``self.tenant.actor`` when calling actions.
3. Plain Django views: ``tenant_for_request(request)`` returns the same ``Tenant`` or ``None``.

The company comes only from an API token (``request.auth``) or from the session's active
membership, never from the URL, query string or body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any, ClassVar, TypeVar

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.db import models
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare
from rest_framework import exceptions, permissions, viewsets
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.managers import CompanyScopedManager, TenancyError
from accounts.models import Actor, ApiToken, Company, CompanyOwned, Membership, Role, TokenScope, User

__all__ = [
    "ACTIVE_COMPANY_SESSION_KEY",
    "CompanyOwned",
    "CompanyScopedManager",
    "CompanyScopedViewSet",
    "HasTenantRole",
    "TenancyError",
    "Tenant",
    "activate_company",
    "refresh_tenant",
    "session_memberships",
    "tenant_for_request",
]

ACTIVE_COMPANY_SESSION_KEY = "active_company"
_M = TypeVar("_M", bound=models.Model)

# A read-write token may do what an admin may do, never what only an owner may do.
_TOKEN_ROLE = {TokenScope.READ: Role.AGENT, TokenScope.READ_WRITE: Role.ADMIN}
_SAFE_METHODS = frozenset(permissions.SAFE_METHODS)


@dataclass(frozen=True)
class Tenant:
    """The company a request acts for, and as whom."""

    company: Company
    role: Role
    user: User | None = None
    token: ApiToken | None = None
    membership: Membership | None = None

    @property
    def actor(self) -> Actor:
        return Actor(user=self.user, token=self.token, role=self.role)


def _session_membership(request: HttpRequest, user: User) -> Membership | None:
    memberships = list(Membership.objects.for_user(user).select_related("company").order_by("created_at", "id"))
    # Kept for session_memberships(): the header's company switcher needs no second query.
    setattr(request, "_moodsaas_memberships", memberships)  # noqa: B010  (a private per-request cache)
    wanted = request.session.get(ACTIVE_COMPANY_SESSION_KEY)
    membership = None
    if wanted:
        membership = next((m for m in memberships if str(m.company.public_id) == wanted), None)
    if membership is None:
        # The stored company is gone (removed from it) or none was chosen: fall back to the oldest.
        membership = next(iter(memberships), None)
        if membership is not None:
            request.session[ACTIVE_COMPANY_SESSION_KEY] = str(membership.company.public_id)
        else:
            request.session.pop(ACTIVE_COMPANY_SESSION_KEY, None)
    return membership


def tenant_for_request(request: HttpRequest | Request) -> Tenant | None:
    """Return the request's tenant from its API token or session membership, cached per request."""
    cached = getattr(request, "_moodsaas_tenant", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    tenant: Tenant | None = None
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiToken):
        tenant = Tenant(company=auth.company, role=_TOKEN_ROLE[TokenScope(auth.scope)], token=auth)
    else:
        user = getattr(request, "user", None)
        if isinstance(user, User) and user.is_authenticated:
            django_request = request._request if isinstance(request, Request) else request
            membership = _session_membership(django_request, user)
            if membership is not None:
                tenant = Tenant(company=membership.company, role=membership.role_enum, user=user, membership=membership)
    if tenant is not None:
        setattr(request, "_moodsaas_tenant", tenant)  # noqa: B010  (a private per-request cache)
    return tenant


def session_memberships(request: HttpRequest) -> list[Membership]:
    """The signed-in user's memberships (companies joined), oldest first; empty for visitors.

    Read from the query :func:`tenant_for_request` runs anyway: no query of its own.
    """
    tenant_for_request(request)
    memberships: list[Membership] = getattr(request, "_moodsaas_memberships", [])
    return memberships


def refresh_tenant(tenant: Tenant, session_key: str | None = None) -> Tenant | None:
    """Re-read what authorised ``tenant`` long ago (an open websocket): None once it no longer holds.

    None when the API token was revoked, the person was removed from the company or deactivated,
    or (``session_key`` of a browser socket) the Django session ended: signed out, expired, or
    the password changed since. Otherwise the same company with the role held now.
    """
    if tenant.token is not None:
        token = ApiToken.objects.for_company(tenant.company).filter(pk=tenant.token.pk, revoked_at=None).first()
        if token is None:
            return None
        return Tenant(company=tenant.company, role=_TOKEN_ROLE[TokenScope(token.scope)], token=token)
    if tenant.user is None:
        return None
    membership = (
        Membership.objects.for_company(tenant.company)
        .select_related("user")
        .filter(user_id=tenant.user.pk, user__is_active=True)
        .first()
    )
    if membership is None or (session_key is not None and not _signed_in(session_key, membership.user)):
        return None
    return Tenant(company=tenant.company, role=membership.role_enum, user=membership.user, membership=membership)


def _signed_in(session_key: str, user: User) -> bool:
    """Whether the session ``session_key`` still signs ``user`` in (what ``auth.get_user`` checks)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    data = store.load()  # empty once the session is gone or expired
    if str(data.get(SESSION_KEY)) != str(user.pk):
        return False
    stored_hash = data.get(HASH_SESSION_KEY) or ""
    # Sessions signed with a fallback key stay valid, as in auth.get_user (the method is Django's own).
    hashes = [user.get_session_auth_hash()] + [
        user._get_session_auth_hash(secret=secret)  # type: ignore[attr-defined]
        for secret in settings.SECRET_KEY_FALLBACKS
    ]
    return any(constant_time_compare(stored_hash, candidate) for candidate in hashes)


def activate_company(request: HttpRequest | Request, membership: Membership) -> None:
    """Make ``membership``'s company the session's active company."""
    request.session[ACTIVE_COMPANY_SESSION_KEY] = str(membership.company.public_id)
    # Drop the per-request cache on both the DRF wrapper and the Django request.
    for holder in (request, getattr(request, "_request", None)):
        if holder is not None and "_moodsaas_tenant" in vars(holder):
            delattr(holder, "_moodsaas_tenant")


class HasTenantRole(permissions.BasePermission):
    """Allow members (or tokens) of a company whose role meets ``view.minimum_role[method]``.

    Methods missing from ``minimum_role`` are denied: declare every method you serve.
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        tenant = tenant_for_request(request)
        if tenant is None:
            if request.user and request.user.is_authenticated:
                raise exceptions.PermissionDenied("You are not a member of any company.", code="not_a_member")
            return False
        if tenant.token is not None:
            if not getattr(view, "allow_api_tokens", True):
                raise exceptions.PermissionDenied(
                    "API tokens cannot use this endpoint; sign in instead.", code="token_not_allowed"
                )
            if tenant.token.read_only and request.method not in _SAFE_METHODS:
                raise exceptions.PermissionDenied("This API token is read-only.", code="read_only_token")
        minimum: Mapping[str, Role] = getattr(view, "minimum_role", {})
        method = request.method or ""
        # HEAD and OPTIONS reveal no more than GET does.
        needed = minimum.get("GET" if method in ("HEAD", "OPTIONS") else method)
        if needed is None:
            raise exceptions.MethodNotAllowed(method)
        if not tenant.role.at_least(needed):
            raise exceptions.PermissionDenied(
                f"This needs the {needed.label.lower()} role or higher; you act as {tenant.role.label.lower()}.",
                code="role",
            )
        return True


_FINAL = ("get_queryset", "get_object", "tenant", "initial", "check_permissions")


class CompanyScopedViewSet(viewsets.GenericViewSet[_M]):
    """The only base for API views over tenant-owned rows.

    Subclasses set ``model`` and ``minimum_role`` and implement ``base_queryset(company)``; they
    may not override ``get_queryset``, ``get_object`` or set ``queryset`` (checked at class
    creation), so every lookup is filtered by the authenticated company and another
    company's object is a 404.
    """

    model: ClassVar[type[models.Model]]
    minimum_role: ClassVar[Mapping[str, Role]] = {}
    allow_api_tokens: ClassVar[bool] = True
    permission_classes = [HasTenantRole]
    lookup_field = "public_id"
    lookup_url_kwarg = "id"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        overridden = [name for name in _FINAL if name in cls.__dict__]
        if overridden:
            raise TypeError(f"{cls.__name__} may not override {', '.join(overridden)}; implement base_queryset()")
        if cls.__dict__.get("queryset") is not None:
            raise TypeError(f"{cls.__name__} may not set queryset; implement base_queryset()")
        if HasTenantRole not in cls.permission_classes:
            raise TypeError(f"{cls.__name__} must keep HasTenantRole in permission_classes")

    def base_queryset(self, company: Company) -> models.QuerySet[_M]:
        """Return the rows of ``company`` this view serves (select_related etc. go here)."""
        raise NotImplementedError

    @property
    def tenant(self) -> Tenant:
        tenant = tenant_for_request(self.request)
        if tenant is None:  # permissions ran first, so this is a programming error
            raise exceptions.NotAuthenticated()
        return tenant

    def get_queryset(self) -> models.QuerySet[_M]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no tenant
            return self.model._default_manager.none()  # type: ignore[return-value]
        company = self.tenant.company
        # Filter again even if base_queryset already did: this line is the guarantee.
        return self.base_queryset(company).filter(company=company)

    def get_object(self) -> _M:
        queryset = self.filter_queryset(self.get_queryset())
        lookup = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
        obj = get_object_or_404(queryset, **{self.lookup_field: lookup})
        self.check_object_permissions(self.request, obj)
        return obj
