"""allauth's account adapter, with failed sign-ins counted per account and address."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest

from accounts.ratelimits import client_address


class AccountAdapter(DefaultAccountAdapter):
    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        """Count failed sign-ins per account *and* address (allauth counts per account).

        Per account alone, anyone who knows an e-mail address locks its owner out with a few
        wrong passwords. Per account and address, the attacker locks out only themself, while the
        per-address rates of ``ACCOUNT_RATE_LIMITS["login_failed"]`` keep guessing across many
        accounts (credential stuffing) slow. allauth builds this key for its ``login_failed``
        limit, and clears it after a password reset from the same address.
        """
        key = super()._get_login_attempts_cache_key(request, **credentials)
        return f"{key}@{client_address(request)}"
