"""Errors raised by actions, and the DRF handler that turns them into precise 4xx responses.

Any app's ``actions.py`` may raise these; the API answers ``{"detail": ..., "code": ...}`` with
the status below, and nothing was written because actions are atomic.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import Throttled
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
    """DRF's handler, plus ``ActionError`` → its status with ``detail`` and ``code``."""
    # Imported here: rest_framework.views imports the authentication classes, which import actions.
    from rest_framework.views import exception_handler

    if isinstance(exc, ActionError):
        return Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    response = exception_handler(exc, context)
    if isinstance(exc, Throttled) and response is not None:
        # DRF already set Retry-After; give the body the documented shape (accounts.schema).
        response.data = {"detail": str(exc.detail), "code": "throttled"}
    return response
