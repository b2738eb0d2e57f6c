"""Two-factor authentication: whom a company requires it of, and where they are sent until then.

allauth.mfa does the rest (an authenticator app by TOTP, recovery codes, the code asked at sign-in).
A company that sets ``mfa_required_for_admins`` sends its owners and admins without an active
authenticator app to the setup page from every page they open while acting for it, and refuses
their session-authenticated API calls with 403 ``mfa_required`` (``accounts.authentication``).
API tokens act for the company, not for a person, and are not affected; agents are not either.

Pages that stay open: allauth's account pages under ``/accounts/`` (sign-out, the two-factor
pages themselves, re-authentication, e-mail verification, which activating needs, and password),
static files, the health check, the language and company switchers (the requirement belongs to
the company acted for).
"""

from __future__ import annotations

from collections.abc import Callable

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.models import Role, User
from accounts.tenancy import Tenant, tenant_for_request

SETUP_URL_NAME = "mfa_activate_totp"


def has_mfa(user: User) -> bool:
    """Whether ``user`` signs in with an authenticator app (recovery codes alone do not count)."""
    return bool(is_mfa_enabled(user, [Authenticator.Type.TOTP]))


def mfa_setup_required(tenant: Tenant | None) -> bool:
    """Whether the person acting as ``tenant`` must set up two-factor authentication first."""
    return (
        tenant is not None
        and tenant.token is None
        and tenant.user is not None
        and tenant.company.mfa_required_for_admins
        and tenant.role.at_least(Role.ADMIN)
        and not has_mfa(tenant.user)
    )


def _open_prefixes() -> tuple[str, ...]:
    static = "/" + settings.STATIC_URL.lstrip("/")
    return (
        "/accounts/",
        static,
        reverse("healthz"),
        reverse("set-language"),
        reverse("switch-company-page"),
    )


class MfaRequirementMiddleware:
    """Send owners and admins whose company requires two-factor authentication to set it up.

    After ``AuthenticationMiddleware`` and ``MessageMiddleware``. The REST API is left to its
    authentication class, which answers 403 ``mfa_required`` instead of a redirect.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        path = request.path_info
        if (
            isinstance(user, User)
            and user.is_authenticated
            and not path.startswith(("/api/", *_open_prefixes()))
            and mfa_setup_required(tenant_for_request(request))
        ):
            messages.warning(
                request,
                _(
                    "Your company requires two-factor authentication for owners and admins. "
                    "Set up an authenticator app to continue."
                ),
            )
            return redirect(SETUP_URL_NAME)
        return self.get_response(request)
