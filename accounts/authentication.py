"""DRF authentication: company API tokens (``Authorization: Bearer mood_...``), then sessions."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext_lazy
from rest_framework import authentication, exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from accounts.actions import touch_api_token
from accounts.models import ApiToken, User, hash_secret


class ApiTokenAuthentication(BaseAuthentication):
    """Authenticate a request as a company API token.

    ``request.user`` stays anonymous and ``request.auth`` is the ``ApiToken``: a token acts for
    its company, not for a person. Requests without a Bearer header fall through to the next
    authentication class (session).
    """

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[AnonymousUser, ApiToken] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Bearer <token>'.")
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Malformed API token: not ASCII.") from None
        if not ApiToken.looks_valid(secret):
            raise exceptions.AuthenticationFailed(
                f"Malformed API token: expected '{ApiToken.PREFIX}' and 43 characters."
            )
        # Lookup by hash: the token may belong to any company, it is the credential itself.
        # Unscoped: authentication is how the company becomes known; the secret's hash finds the row.
        token = ApiToken.unscoped_objects.select_related("company").filter(key_hash=hash_secret(secret)).first()
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown API token.")
        if not token.is_active:
            raise exceptions.AuthenticationFailed("This API token has been revoked.")
        touch_api_token(token)
        return AnonymousUser(), token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class MfaRequired(exceptions.PermissionDenied):
    default_detail = gettext_lazy(
        "Your company requires two-factor authentication for owners and admins: set up an "
        "authenticator app at /accounts/2fa/ before using the API with this account."
    )
    default_code = "mfa_required"

    def __init__(self) -> None:
        # The documented body, {"detail", "code"}, whichever exception handler renders it: DRF's
        # own renders a dict detail as it is.
        super().__init__({"detail": self.default_detail, "code": self.default_code})


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication (with its CSRF check), refusing an owner or admin whose
    company requires two-factor authentication until they set it up (``accounts.mfa``).

    Raised here, where DRF expects authentication to fail, so that the refusal comes before any
    view runs: 403 ``{"detail": ..., "code": "mfa_required"}``.
    """

    def authenticate(self, request: Request) -> tuple[User, None] | None:
        # Imported here: rest_framework.views imports this module while accounts.tenancy imports it.
        from accounts.mfa import mfa_setup_required
        from accounts.tenancy import tenant_for_request

        result = super().authenticate(request)
        # The Django request: its tenant is the session's, and the cache is shared with DRF's.
        if result is not None and mfa_setup_required(tenant_for_request(request._request)):
            raise MfaRequired()
        return result
