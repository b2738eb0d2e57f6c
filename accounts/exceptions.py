"""Errors raised by actions, and the DRF handler that turns them into precise 4xx responses.

Any app's ``actions.py`` may raise these; the API answers ``{"detail": ..., "code": ...}`` with
the status below, and nothing was written because actions are atomic.

Every API error body has one of two shapes (``accounts.schema`` documents both):

- ``{"detail": "...", "code": "..."}``: rule violations, and everything DRF itself refuses
  (401, 403, 404, 405, 415, parse errors, 429), whose ``code`` is DRF's (``not_found``,
  ``method_not_allowed``, ``parse_error``, ...) unless the raiser named one;
- ``{"field": ["message", ...]}``: a serializer's validation errors (400).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import status
from rest_framework.exceptions import APIException, ErrorDetail, NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response


class ActionError(Exception):
    """The request is understood but breaks a rule (400)."""

    status_code = 400

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ActionForbidden(ActionError):
    """The actor's role does not allow this (403)."""

    status_code = 403


class ActionConflict(ActionError):
    """The target is not in a state that allows this (409)."""

    status_code = 409


class ActionNotFound(ActionError):
    """There is nothing the action could apply to in the caller's company (404)."""

    status_code = 404


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with every error body ``{"detail", "code"}`` except field validation errors."""
    # Imported here: rest_framework.views imports the authentication classes, which import actions.
    from rest_framework.views import exception_handler

    if isinstance(exc, ActionError):
        return Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    # Django's own limits on a form body, met while DRF parses it: Django would answer an HTML 400.
    if isinstance(exc, RequestDataTooBig):
        body = {"detail": "The request body is too large.", "code": "request_too_large"}
        return Response(body, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        return Response({"detail": str(exc), "code": "too_many_fields"}, status=status.HTTP_400_BAD_REQUEST)
    # DRF turns Django's Http404 and PermissionDenied into its own, and so do we, to read their code.
    if isinstance(exc, Http404):
        exc = NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = PermissionDenied(*exc.args)
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, APIException):
        return response
    if isinstance(exc, ValidationError) and isinstance(exc.detail, dict):
        return response  # {"field": ["message"]}
    # DRF's body is {"detail": "..."} or, for a ValidationError raised with a message, ["..."].
    response.data = {"detail": _message(exc.detail), "code": _code(exc)}
    return response


def _message(detail: Any) -> str:
    if isinstance(detail, list):
        return " ".join(_message(item) for item in detail)
    if isinstance(detail, dict):  # an APIException raised with a dict: keep its first message
        return _message(next(iter(detail.values()), ""))
    return str(detail)


def _code(exc: APIException) -> str:
    """The code the raiser gave, else DRF's default code of the exception class."""
    detail = exc.detail
    while isinstance(detail, (list, dict)) and detail:
        detail = detail[0] if isinstance(detail, list) else next(iter(detail.values()))
    if isinstance(detail, ErrorDetail) and detail.code:
        return str(detail.code)
    return str(exc.default_code)


@csrf_exempt  # it changes nothing; a cookie-carrying DELETE must get this 404, not the CSRF page
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """The API's answer to a path under ``/api/v1/`` it does not serve: DRF's 404 body, not Django's page."""
    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
