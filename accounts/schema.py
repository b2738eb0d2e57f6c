"""OpenAPI additions: the Bearer API-token authentication, and the 429 answer of throttled requests."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "mood_<43 url-safe characters>",
            "description": "A company API token. Read-only tokens may use GET only.",
        }


THROTTLED_RESPONSE: dict[str, Any] = {
    "description": "Too many requests from this API token or person (or, on analyse/, company); "
    "retry after the number of seconds in Retry-After.",
    "headers": {
        "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 1}}
    },
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"detail": {"type": "string"}, "code": {"type": "string", "enum": ["throttled"]}},
                "required": ["detail", "code"],
            }
        }
    },
}
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def document_throttling(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: every operation may answer 429 (every API view is throttled)."""
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method in _METHODS:
                operation.setdefault("responses", {}).setdefault("429", THROTTLED_RESPONSE)
    return result
