"""Content-Security-Policy: the header on every response, and the API docs' own allowances.

The policy itself is ``CONTENT_SECURITY_POLICY`` in ``moodsaas.settings`` (django-csp). What a
setting cannot say lives here:

- ``connect-src`` names the websocket origin of the host the page was served from (``wss://`` and,
  over plain HTTP, ``ws://``): the agent page, the dashboard, the session page and the bell open
  sockets to ``location.host``. CSP level 3 lets ``'self'`` cover them; older browsers (Safari's
  among them) did not.
- Redoc (drf-spectacular-sidecar) writes <style> elements without a nonce and builds its search
  index in a worker started from a ``blob:`` URL: its view, and only it, gets ``'unsafe-inline'``
  styles and ``blob:`` workers (``redoc_policy``). Swagger UI runs under the plain policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest
from django.http.response import HttpResponseBase


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the request's own websocket origin in ``connect-src``."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        try:
            host = request.get_host()
        except Exception:  # DisallowedHost: the response is Django's 400, which needs no socket
            return parts
        sockets = [f"wss://{host}"] if request.is_secure() else [f"ws://{host}", f"wss://{host}"]
        update = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", ()), *sockets]
        parts.update = update
        return parts


# Redoc's bundle writes <style> elements as it loads, before Redoc.init can hand it the nonce
# (webpack's style loader and styled-components read it once), so its page needs 'unsafe-inline'
# styles; browsers ignore 'unsafe-inline' when a nonce is in the same directive, so this style-src
# has none. Its own inline <style> and <script> (templates/drf_spectacular/redoc.html) still carry
# the nonce, which script-src keeps. Its search index is built in a worker started from a blob: URL.
# Swagger UI needs nothing more than the nonce on its two inline blocks.
REDOC_DIRECTIVES: dict[str, Any] = {
    "style-src": [SELF, UNSAFE_INLINE],
    "worker-src": [SELF, "blob:"],
}


def redoc_policy(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Relax the policy for the Redoc view, and nothing else (``REDOC_DIRECTIVES``)."""
    return csp_replace(REDOC_DIRECTIVES)(view)
