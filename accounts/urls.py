"""Accounts API routes, mounted under ``/api/v1/`` by ``moodsaas.urls``."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts import api

router = SimpleRouter(trailing_slash=True)
router.register("members", api.MemberViewSet, basename="member")
router.register("invitations", api.InvitationViewSet, basename="invitation")
router.register("tokens", api.ApiTokenViewSet, basename="api-token")
router.register("audit-events", api.AuditEventViewSet, basename="audit-event")

urlpatterns = [
    path("company/", api.CurrentCompanyView.as_view(), name="current-company"),
    path("me/", api.MeView.as_view(), name="me"),
    path("me/switch-company/", api.SwitchCompanyView.as_view(), name="switch-company"),
    *router.urls,
]
