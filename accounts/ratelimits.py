"""Abuse limits, one mechanism: who the client is, and a fixed-window counter in the shared cache.

Used by the sign-in (``accounts.adapter``: failed attempts count per account *and* address),
the REST API's throttles (``accounts.throttling``) and the public demo page. The values are
settings (docs/configuration.md); docs/api.md describes the 429 answers.

The client's address is the one allauth sees: ``REMOTE_ADDR``, or the ``X-Forwarded-For`` entry
``ALLAUTH_TRUSTED_PROXY_COUNT`` places from the right behind a proxy. IPv6 clients count by their
/64 network, since one host usually holds a whole /64.
"""

from __future__ import annotations

import ipaddress
import math
import time

from allauth.account.adapter import get_adapter
from django.core.cache import cache
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The client's address as allauth's rate limits see it; IPv6 clients by their /64 network."""
    address = get_adapter(request).get_client_ip(request)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return str(address)
    if parsed.version == 6:
        return str(ipaddress.IPv6Network(f"{parsed}/64", strict=False).network_address)
    return str(parsed)


def take_slot(key: str, limit: int, window_seconds: int) -> int:
    """Count one request against ``key``: 0 if it is within ``limit``, else the seconds to wait.

    A window opens at the key's first request and lasts ``window_seconds``; the count lives in
    the shared cache (Redis in services mode), so every web process counts together, and
    ``incr`` is atomic, so concurrent requests cannot slip past the limit. ``incr`` keeps the
    key's expiry: the window does not slide while requests keep coming.
    """
    count_key, start_key = f"ratelimit:{key}", f"ratelimit:{key}:start"
    now = time.time()
    cache.add(start_key, now, timeout=window_seconds)
    cache.add(count_key, 0, timeout=window_seconds)
    try:
        count = cache.incr(count_key)
    except ValueError:  # the window closed between add and incr: this request opens the next
        cache.set(count_key, 1, timeout=window_seconds)
        count = 1
    if count <= limit:
        return 0
    started = float(cache.get(start_key, now))
    return max(1, math.ceil(started + window_seconds - now))
