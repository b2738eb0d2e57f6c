"""Page-number pagination of every API list, with the page number checked as the schema states it.

DRF's own paginator reads ``?page=`` loosely: an empty or repeated value means page 1 and
``last`` means the last page, none of which the OpenAPI schema (an integer from 1) allows. Here a
page number is one positive integer; anything else is a 400 ``{"detail", "code": "invalid_page"}``,
and a page past the last one stays DRF's 404 (``not_found``). Unknown query parameters are refused
(``accounts.serializers.check_query_names``).
"""

from __future__ import annotations

import re
from typing import Any

from django.core.paginator import Paginator
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework import pagination
from rest_framework.request import Request

from accounts.serializers import QueryError, check_query_names

PAGE_DESCRIPTION = "Page number, from 1 (50 per page). A page past the last one is a 404."
_POSITIVE = re.compile(r"[1-9][0-9]{0,8}")  # a page number of at most nine digits

# For views that paginate by hand (a detail action's list): the same parameter DRF lists do get.
PAGE_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": 999_999_999}
PAGE_PARAMETER = OpenApiParameter("page", PAGE_SCHEMA, OpenApiParameter.QUERY, description=PAGE_DESCRIPTION)


class InvalidPage(QueryError):
    """A ``page`` that is not one positive integer (400 ``invalid_page``)."""

    default_detail = _("The page number must be one whole number from 1.")
    default_code = "invalid_page"


def page_number(request: Request) -> int:
    """The requested page number (1 when absent); :class:`InvalidPage` unless it is one positive integer."""
    values = request.query_params.getlist("page")
    if not values:
        return 1
    if len(values) != 1 or not _POSITIVE.fullmatch(values[0]):
        raise InvalidPage()
    return int(values[0])


class PageNumberPagination(pagination.PageNumberPagination):
    """DRF's page-number pagination (``PAGE_SIZE`` per page) with a strictly checked ``page``.

    A list takes ``page`` and the view's ``filter_parameters`` (names its filters read and check),
    nothing else: an unknown query parameter is a 400 ``unknown_parameter``.
    """

    last_page_strings = ()

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        check_query_names(request.query_params, {self.page_query_param, *getattr(view, "filter_parameters", ())})
        return super().paginate_queryset(queryset, request, view)

    def get_page_number(self, request: Request, paginator: Paginator) -> int:
        return page_number(request)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": PAGE_DESCRIPTION,
                "schema": PAGE_SCHEMA,
            }
        ]
