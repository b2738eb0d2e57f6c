from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.tenancy import tenant_for_request


def tenant(request: HttpRequest) -> dict[str, Any]:
    """Expose the active company and role to every template as ``tenant``."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"tenant": None}
    return {"tenant": tenant_for_request(request)}
