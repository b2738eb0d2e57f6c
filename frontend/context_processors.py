from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.tenancy import session_memberships, tenant_for_request


def tenant(request: HttpRequest) -> dict[str, Any]:
    """Expose the active company and role as ``tenant``, and the user's memberships as ``companies``.

    ``companies`` (sorted by company name) feeds the header's company switcher; it reuses the
    memberships ``tenant_for_request`` loads, so no page pays a query for it.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"tenant": None, "companies": []}
    return {
        "tenant": tenant_for_request(request),
        "companies": sorted(session_memberships(request), key=lambda m: m.company.name.casefold()),
    }
