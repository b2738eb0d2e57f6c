"""OpenAPI additions: the Bearer API-token scheme, and the error answers every operation really gives.

``ApiAutoSchema`` (``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``) documents, on each operation, the
errors the API's machinery can answer there, whatever the view says (``accounts.exceptions``
gives their bodies):

- 400 ``BadRequest`` where the request has a body or query parameters: validation errors
  ``{"field": ["message"]}`` or a rule ``{"detail", "code"}`` (``parse_error``, ``invalid_page``,
  the endpoint's own codes);
- 401 ``Unauthenticated`` and 403 ``Forbidden`` everywhere (every operation needs credentials,
  and a role, a read-write token, a session or staff);
- 404 ``NotFound`` where the path names an object or the list is paginated;
- 413 ``TooLarge`` and 429 ``Throttled`` everywhere (moodsaas.asgi refuses any request body over
  the limit; every API view is throttled);
- 415 ``UnsupportedMediaType`` where the request has a body.

Views declare what only they answer (409 conflicts, a 404 of their own, 503), with
``ErrorSerializer``. Operations that refuse API tokens (``allow_api_tokens = False`` on the view)
list only the session cookie as their security.
"""

from __future__ import annotations

import copy
from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers

from accounts.pagination import PAGE_DESCRIPTION, PAGE_SCHEMA
from accounts.serializers import ErrorSerializer


def accepts_api_tokens(view: Any) -> bool:
    """Whether the view serves API tokens (views that refuse them say ``allow_api_tokens = False``)."""
    return bool(getattr(view, "allow_api_tokens", True))


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    # drf-spectacular's AutoSchema.get_auth skips a None requirement; its stub does not say so.
    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[Any]] | None:  # type: ignore[override]
        if not accepts_api_tokens(auto_schema.view):
            return None  # a token gets 403 here: only the session cookie is a way in
        return {"apiToken": []}

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "mood_<43 url-safe characters>",
            "description": "A company API token. Read-only tokens may use GET only.",
        }


class SessionCookieScheme(OpenApiAuthenticationExtension):
    """The session cookie: DRF's SessionAuthentication and our subclasses of it (drf-spectacular
    knows only the exact class)."""

    target_class = "rest_framework.authentication.SessionAuthentication"
    match_subclasses = True
    priority = 1  # before drf-spectacular's own extension for the exact class
    name = "cookieAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}


# The grading rubric's JSON Schema: the rules are evaluations' (accounts imports no other app), which
# puts them here when its app is ready (EvaluationsConfig.ready), as it does with the rubric checks.
RUBRIC_SCHEMA: dict[str, Any] = {"type": "object"}


class RubricFieldScheme(OpenApiSerializerFieldExtension):
    target_class = "accounts.serializers.RubricField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return copy.deepcopy(RUBRIC_SCHEMA)  # the enum hook rewrites schemas in place


# A string a serializer's CharField accepts: no NUL character (Django refuses them) and, unless
# blank is allowed, something left once DRF has trimmed the surrounding whitespace.
_NO_NUL = r"^[^\x00]*$"
_NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"
_PLAIN_CHAR_FIELDS = (serializers.CharField,)
_SPECIAL_CHAR_FIELDS = (
    serializers.EmailField,
    serializers.URLField,
    serializers.UUIDField,
    serializers.RegexField,
    serializers.SlugField,
    serializers.IPAddressField,
)

_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 1}}
}


def _error_schema(codes: list[str] | None = None) -> dict[str, Any]:
    code: dict[str, Any] = {"type": "string"}
    if codes:
        code["enum"] = codes
    return {
        "type": "object",
        "properties": {"detail": {"type": "string"}, "code": code},
        "required": ["detail", "code"],
    }


THROTTLED_RESPONSE: dict[str, Any] = {
    "description": "Too many requests from this API token or person (or, on analyse/, company); "
    "retry after the number of seconds in Retry-After.",
    "headers": _RETRY_AFTER,
    "content": {"application/json": {"schema": _error_schema(["throttled"])}},
}


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema plus the error responses above, and exact string rules."""

    def get_operation(
        self, path: str, path_regex: str, path_prefix: str, method: str, registry: Any
    ) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses: dict[str, Any] = operation.setdefault("responses", {})
        parameters = operation.get("parameters", [])
        for parameter in parameters:
            if parameter.get("in") == "query" and parameter.get("name") == "page":
                # Every list pages with accounts.pagination, which takes exactly this.
                parameter.update(schema=dict(PAGE_SCHEMA), description=PAGE_DESCRIPTION)
        has_body = "requestBody" in operation
        has_query = any(p.get("in") == "query" for p in parameters)
        names_object = any(p.get("in") == "path" for p in parameters)
        paginated = any(p.get("in") == "query" and p.get("name") == "page" for p in parameters)
        if has_body or has_query:
            responses["400"] = self._response("BadRequest")  # validation errors are always possible
        responses.setdefault("401", self._response("Unauthenticated"))
        responses.setdefault("403", self._response("Forbidden"))
        if names_object or paginated:
            responses.setdefault("404", self._response("NotFound"))
        responses.setdefault("413", self._response("TooLarge"))
        if has_body:
            responses.setdefault("415", self._response("UnsupportedMediaType"))
        responses.setdefault("429", self._response("Throttled"))
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _map_serializer_field(self, field: Any, direction: Any, bypass_extensions: bool = False) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, _PLAIN_CHAR_FIELDS)
            and not isinstance(field, _SPECIAL_CHAR_FIELDS)
            and schema.get("type") == "string"
            and "pattern" not in schema
            and "enum" not in schema
        ):
            blank_ok = field.allow_blank or not field.trim_whitespace
            schema["pattern"] = _NO_NUL if blank_ok else _NOT_BLANK
        if isinstance(field, serializers.MultipleChoiceField) and not field.allow_empty:
            schema.setdefault("minItems", 1)  # drf-spectacular leaves allow_empty=False out
        return schema

    # --- Components ------------------------------------------------------------------------------

    def _schema_ref(self, name: str) -> dict[str, Any]:
        if name == "Error":
            return self.resolve_serializer(ErrorSerializer, "response").ref
        # A copy: drf-spectacular's enum hook rewrites component schemas in place, once per generation.
        schema = copy.deepcopy(_SCHEMAS[name])
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema)
        self.registry.register_on_missing(component)
        return component.ref

    def _response(self, name: str) -> dict[str, Any]:
        description, schema_names, headers = _RESPONSES[name]
        refs = [self._schema_ref(schema_name) for schema_name in schema_names]
        schema = refs[0] if len(refs) == 1 else {"oneOf": refs}
        body: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
        if headers:
            body["headers"] = headers
        component = ResolvedComponent(name=name, type=ResolvedComponent.RESPONSE, object=name, schema=body)
        self.registry.register_on_missing(component)
        return component.ref


_SCHEMAS: dict[str, dict[str, Any]] = {
    "ValidationError": {
        "type": "object",
        "description": "What was wrong with each field (or non_field_errors): a list of messages, or an object "
        "of them for a list or nested field.",
        "minProperties": 1,
        "additionalProperties": {
            "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "object"}],
        },
    },
    "AuthenticationError": _error_schema(["not_authenticated", "authentication_failed"]),
    "NotFoundError": _error_schema(["not_found"]),
    "UnsupportedMediaTypeError": _error_schema(["unsupported_media_type"]),
    "ThrottledError": _error_schema(["throttled"]),
}

_RESPONSES: dict[str, tuple[str, list[str], dict[str, Any] | None]] = {
    "BadRequest": (
        "The request is malformed: the fields' validation errors, or a rule with its code (parse_error: the "
        "body is not valid JSON; invalid_page; the endpoint's own codes).",
        ["ValidationError", "Error"],
        None,
    ),
    "Unauthenticated": (
        "No credentials (not_authenticated), or an API token that is malformed, unknown or revoked "
        "(authentication_failed).",
        ["AuthenticationError"],
        None,
    ),
    "Forbidden": (
        "Authenticated but not allowed: role (the role needed is named), read_only_token, token_not_allowed "
        "(an endpoint for signed-in people), not_a_member, permission_denied (a missing CSRF token with a "
        "session, or not staff).",
        ["Error"],
        None,
    ),
    "NotFound": (
        "No such object in your company (another company's objects are a 404 too), or a page past the last.",
        ["NotFoundError"],
        None,
    ),
    "TooLarge": (
        "The request body is over the limit and was not read (request_too_large), or an upload is over its own "
        "limit (image_too_large, video_too_large).",
        ["Error"],
        None,
    ),
    "UnsupportedMediaType": (
        "The body's Content-Type is not one this operation reads (see its request body).",
        ["UnsupportedMediaTypeError"],
        None,
    ),
    "Throttled": (
        "Too many requests from this API token or person (or, on analyse/, company); retry after the number "
        "of seconds in Retry-After.",
        ["ThrottledError"],
        _RETRY_AFTER,
    ),
}


def document_throttling(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: every operation may answer 429 (every API view is throttled).

    ``ApiAutoSchema`` already adds it; this covers operations of views with another schema class.
    """
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method in _METHODS:
                operation.setdefault("responses", {}).setdefault("429", copy.deepcopy(THROTTLED_RESPONSE))
    return result


__all__ = [
    "RUBRIC_SCHEMA",
    "ApiAutoSchema",
    "ApiTokenScheme",
    "RubricFieldScheme",
    "SessionCookieScheme",
    "accepts_api_tokens",
    "document_throttling",
]
