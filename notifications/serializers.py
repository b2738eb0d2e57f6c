"""Serializers of the notifications API (webhook endpoints and their delivery log)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import JsonBodySerializer
from notifications.models import WEBHOOK_EVENT_TYPES, WebhookAttempt, WebhookDelivery, WebhookEndpoint

EVENT_CHOICES = [(t.value, t.label) for t in WEBHOOK_EVENT_TYPES]


@extend_schema_field(
    {
        "type": "string",
        "format": "uri",
        "maxLength": 500,
        # What notifications.webhooks.check_url asks of the shape: https, a host, no user name or password.
        "pattern": r"^[Hh][Tt][Tt][Pp][Ss]://[^/?#@\s]+(?:[/?#]\S*)?$",
        "description": "An https:// URL whose host resolves to public internet addresses only (checked when it "
        "is saved: 400 url otherwise).",
    }
)
class WebhookURLField(serializers.CharField):
    """A webhook endpoint's URL. ``check_url`` checks it when the action saves it (shape, then DNS): not
    Django's URL pattern too, which refuses some URLs the schema's ``format: uri`` allows."""


class WebhookEndpointSerializer(serializers.ModelSerializer[WebhookEndpoint]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_CHOICES), read_only=True)
    previous_secret_expires_at = serializers.SerializerMethodField(
        help_text="While set and in the future, the previous secret also signs (rotation grace)."
    )

    class Meta:
        model = WebhookEndpoint
        fields: tuple[str, ...] = (
            "id",
            "url",
            "description",
            "events",
            "enabled",
            "disabled_at",
            "disabled_reason",
            "consecutive_failures",
            "last_success_at",
            "last_failure_at",
            "previous_secret_expires_at",
            "created_at",
        )
        read_only_fields: tuple[str, ...] = fields

    def get_previous_secret_expires_at(self, endpoint: WebhookEndpoint) -> str | None:
        expires = endpoint.previous_secret_expires_at if endpoint.previous_secret else None
        return expires.isoformat() if expires else None


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.SerializerMethodField(
        help_text="The signing secret (whsec_...), shown once: store it now. It is never shown again."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields: tuple[str, ...] = (*WebhookEndpointSerializer.Meta.fields, "secret")
        read_only_fields: tuple[str, ...] = fields

    def get_secret(self, endpoint: WebhookEndpoint) -> str:
        return str(self.context["secret"])


class WebhookEndpointWriteSerializer(JsonBodySerializer):
    url = WebhookURLField(max_length=500)
    events = serializers.MultipleChoiceField(choices=EVENT_CHOICES, allow_empty=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    enabled = serializers.BooleanField(required=False, help_text="Switch the endpoint off or back on (PATCH only).")


class WebhookAttemptSerializer(serializers.ModelSerializer[WebhookAttempt]):
    class Meta:
        model = WebhookAttempt
        fields = ("number", "started_at", "duration_ms", "status_code", "response_excerpt", "error", "succeeded")
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer[WebhookDelivery]):
    id = serializers.CharField(source="message_id", read_only=True, help_text="The webhook-id header.")
    event = serializers.SerializerMethodField()
    log = serializers.SerializerMethodField(help_text="Every attempt, first first.")

    class Meta:
        model = WebhookDelivery
        fields = ("id", "event", "status", "attempts", "next_attempt_at", "created_at", "finished_at", "log")
        read_only_fields = fields

    def get_event(self, delivery: WebhookDelivery) -> dict[str, str]:
        return {"id": str(delivery.event.public_id), "type": delivery.event.type}

    def get_log(self, delivery: WebhookDelivery) -> list[dict[str, Any]]:
        attempts = self.context["attempts"].get(delivery.pk, [])
        return list(WebhookAttemptSerializer(attempts, many=True).data)
