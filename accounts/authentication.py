"""DRF authentication with company API tokens: ``Authorization: Bearer mood_...``."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from accounts.actions import touch_api_token
from accounts.models import ApiToken, hash_secret


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
