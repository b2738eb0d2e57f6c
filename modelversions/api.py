"""Staff-only API over the model registry: list versions, activate one, roll back.

The registry is shared by every company, so only staff (``is_staff`` users with a browser
session) may change it; company API tokens act for a company, never for staff.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import ErrorSerializer
from inference import registry
from ml.registry import activate, restore_previous


def _version(info: registry.ModelInfo, active: str, live: str) -> dict[str, Any]:
    return {
        "version": info.version,
        "active": info.version == active,
        "live": info.version == (live or active),
        "created_at": info.created_at,
        "serving_format": info.serving.get("format"),
        "temperature": info.temperature,
        "metrics": info.metrics,
    }


def _active_or_empty() -> str:
    try:
        return registry.active_version()
    except registry.RegistryError:
        return ""


class VersionSerializer(serializers.Serializer[dict[str, Any]]):
    """Shape of one model version in responses (documentation only)."""

    version = serializers.CharField()
    active = serializers.BooleanField(help_text="Serves uploaded images, videos and the analyse endpoint.")
    live = serializers.BooleanField(
        help_text="Serves live camera frames: the version `python -m ml activate NAME --live` chose, else the active one."
    )
    created_at = serializers.CharField(help_text="ISO date-time; empty when the registry does not say.")
    serving_format = serializers.CharField(allow_null=True)
    temperature = serializers.FloatField()
    metrics = serializers.DictField()


class _StaffView(APIView):
    permission_classes = [IsAdminUser]
    allow_api_tokens = False  # IsAdminUser refuses them (no person); the schema lists only the session cookie


class ModelVersionList(_StaffView):
    @extend_schema(responses=VersionSerializer(many=True), summary="List emotion model versions (staff)")
    def get(self, request: Request) -> Response:
        active, live = _active_or_empty(), registry.live_pointer()
        return Response([_version(info, active, live) for info in registry.versions()])


class ModelVersionActivate(_StaffView):
    @extend_schema(
        request=None,
        responses={
            200: VersionSerializer,
            400: OpenApiResponse(ErrorSerializer, description="The version's files fail its checks (invalid_version)."),
        },
        summary="Activate an emotion model version (staff)",
    )
    def post(self, request: Request, version: str) -> Response:
        if version not in {info.version for info in registry.versions()}:
            raise NotFound(f"No model version {version!r} in the registry.")
        try:
            info = activate(version, actor=f"staff:{request.user.pk}")
        except registry.RegistryError as exc:
            return Response({"detail": str(exc), "code": "invalid_version"}, status=status.HTTP_400_BAD_REQUEST)
        return Response(_version(info, info.version, registry.live_pointer()))


class ModelVersionRestorePrevious(_StaffView):
    @extend_schema(
        request=None,
        responses={
            200: VersionSerializer,
            409: OpenApiResponse(
                ErrorSerializer, description="No previous version to go back to, or its files fail their checks."
            ),
        },
        summary="Re-activate the previous model (staff)",
    )
    def post(self, request: Request) -> Response:
        try:
            info = restore_previous(actor=f"staff:{request.user.pk}")
        except registry.RegistryError as exc:
            return Response({"detail": str(exc), "code": "no_previous"}, status=status.HTTP_409_CONFLICT)
        return Response(_version(info, info.version, registry.live_pointer()))
