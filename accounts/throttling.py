"""REST API throttles: per API token and per signed-in person, stricter on ``analyse/``.

Rates are DRF's scoped rates, ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (set from the
environment, docs/configuration.md):

- ``token`` / ``user``: every API request, per API token or per person (``ApiThrottle``, the
  default of every view);
- ``analyse`` (per token or person) and ``analyse_company`` (per company) on
  ``POST /api/v1/analyse/``, whose inference runs inside the web process.

Counting is ``accounts.ratelimits.take_slot``, shared with the public demo: a fixed window in
Redis with an atomic increment, so concurrent requests cannot slip past a limit (DRF's own
throttles read, append and write back a history list). Throttles run after authentication and
permissions, so only allowed requests count. A throttled request is answered 429
``{"detail", "code": "throttled"}`` with ``Retry-After`` in seconds.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from accounts.models import ApiToken
from accounts.ratelimits import take_slot

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate(scope: str) -> tuple[int, int]:
    """The scope's rate as (requests, window seconds), from DRF's ``"600/min"`` notation."""
    number, period = str(api_settings.DEFAULT_THROTTLE_RATES[scope]).split("/")
    return int(number), _PERIODS[period[0]]


def _caller(request: Request) -> str | None:
    """``token:<public id>`` or ``user:<id>``; None for anonymous requests (refused before this)."""
    if isinstance(request.auth, ApiToken):
        return f"token:{request.auth.public_id.hex}"
    user = request.user
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


class _ScopedThrottle(BaseThrottle):
    """Count the request under each of ``subjects()`` in turn, at its scope's rate.

    The first refusal stops the count: a client over its own limit spends nothing more, so one
    runaway client cannot use up its company's allowance for its colleagues.
    """

    wait_seconds = 0

    def subjects(self, request: Request) -> list[tuple[str, str]]:
        """Return the ``(scope, who)`` pairs to count, in order; empty lets the request through."""
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        if not settings.API_THROTTLING:
            return True
        for scope, who in self.subjects(request):
            limit, window = rate(scope)
            self.wait_seconds = take_slot(f"api:{scope}:{who}", limit, window)
            if self.wait_seconds:
                return False
        return True

    def wait(self) -> float | None:
        return float(self.wait_seconds) if self.wait_seconds else None


class ApiThrottle(_ScopedThrottle):
    """Every API request: ``token`` rate per API token, ``user`` rate per signed-in person."""

    def subjects(self, request: Request) -> list[tuple[str, str]]:
        caller = _caller(request)
        if caller is None:
            return []
        return [("token" if caller.startswith("token:") else "user", caller)]


class AnalyseThrottle(ApiThrottle):
    """``analyse/``: the caller's API rate, then ``analyse`` per caller, then ``analyse_company``."""

    def subjects(self, request: Request) -> list[tuple[str, str]]:
        # Imported here: tenancy imports rest_framework.views, whose APIView imports this module.
        from accounts.tenancy import tenant_for_request

        caller = _caller(request)
        tenant = tenant_for_request(request)
        if caller is None or tenant is None:
            return []
        return [*super().subjects(request), ("analyse", caller), ("analyse_company", tenant.company.public_id.hex)]


# Replaces the default ApiThrottle on analyse/ (it counts the same API rate first).
ANALYSE_THROTTLES: list[type[BaseThrottle]] = [AnalyseThrottle]
