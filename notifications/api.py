"""The notifications REST API: webhook endpoints of the company (admins and owners)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, ClassVar

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Company, Role
from accounts.tenancy import CompanyScopedViewSet
from notifications import actions
from notifications.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.serializers import (
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointSerializer,
    WebhookEndpointWriteSerializer,
)

ADMIN: dict[str, Role] = {"GET": Role.ADMIN, "POST": Role.ADMIN, "PATCH": Role.ADMIN, "DELETE": Role.ADMIN}


def attempts_by_delivery(deliveries: list[WebhookDelivery]) -> dict[int, list[WebhookAttempt]]:
    """The attempts of ``deliveries`` in one query, grouped by delivery."""
    grouped: dict[int, list[WebhookAttempt]] = defaultdict(list)
    if deliveries:
        company_id = deliveries[0].company_id
        for attempt in WebhookAttempt.objects.for_company_id(company_id).filter(
            delivery_id__in=[d.pk for d in deliveries]
        ):
            grouped[attempt.delivery_id].append(attempt)
    return grouped


class WebhookEndpointViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    CompanyScopedViewSet[WebhookEndpoint],
):
    """Webhook endpoints (Standard Webhooks): register, change, rotate the secret, test, read the log.

    The signing secret is in the response of ``create`` and ``rotate-secret`` only.
    """

    model = WebhookEndpoint
    minimum_role: ClassVar[dict[str, Role]] = ADMIN
    serializer_class = WebhookEndpointSerializer
    http_method_names: ClassVar[list[str]] = ["get", "post", "patch", "delete", "head", "options"]  # type: ignore[misc]

    def base_queryset(self, company: Company) -> QuerySet[WebhookEndpoint]:
        return WebhookEndpoint.objects.for_company(company)

    @extend_schema(request=WebhookEndpointWriteSerializer, responses={201: WebhookEndpointCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = WebhookEndpointWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint, secret = actions.create_endpoint(
            actor=self.tenant.actor,
            company=self.tenant.company,
            url=data["url"],
            events=sorted(data["events"]),
            description=data.get("description", ""),
        )
        return Response(
            WebhookEndpointCreatedSerializer(endpoint, context={"secret": secret}).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=WebhookEndpointWriteSerializer, responses=WebhookEndpointSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        endpoint = self.get_object()
        serializer = WebhookEndpointWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if "events" in changes:
            changes["events"] = sorted(changes["events"])
        if "description" in changes and "description" not in request.data:
            del changes["description"]  # the serializer's default, not a change
        updated = actions.update_endpoint(actor=self.tenant.actor, endpoint=endpoint, changes=changes)
        return Response(WebhookEndpointSerializer(updated).data)

    def perform_destroy(self, instance: WebhookEndpoint) -> None:
        actions.delete_endpoint(actor=self.tenant.actor, endpoint=instance)

    @extend_schema(request=None, responses=WebhookEndpointCreatedSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """A new signing secret (shown once); the previous one keeps signing for 24 hours."""
        endpoint, secret = actions.rotate_secret(actor=self.tenant.actor, endpoint=self.get_object())
        return Response(WebhookEndpointCreatedSerializer(endpoint, context={"secret": secret}).data)

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Send a ``webhook.test`` event to this endpoint now."""
        delivery = actions.send_test_event(actor=self.tenant.actor, endpoint=self.get_object())
        fresh = WebhookDelivery.objects.for_company(self.tenant.company).select_related("event").get(pk=delivery.pk)
        context = {"attempts": attempts_by_delivery([fresh])}
        return Response(WebhookDeliverySerializer(fresh, context=context).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The endpoint's deliveries, newest first, each with its attempts (paginated)."""
        endpoint = self.get_object()
        queryset = (
            WebhookDelivery.objects.for_company(self.tenant.company).filter(endpoint=endpoint).select_related("event")
        )
        page = self.paginate_queryset(queryset)  # type: ignore[arg-type]  # a page of deliveries, not endpoints
        rows = list(page if page is not None else queryset)
        data = WebhookDeliverySerializer(rows, many=True, context={"attempts": attempts_by_delivery(rows)}).data
        return self.get_paginated_response(data) if page is not None else Response(data)
