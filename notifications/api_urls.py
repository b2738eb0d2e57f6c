"""Notifications API routes, mounted under ``/api/v1/`` by ``moodsaas.urls``."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from notifications import api

router = SimpleRouter(trailing_slash=True)
router.register("webhook-endpoints", api.WebhookEndpointViewSet, basename="webhook-endpoint")

urlpatterns = router.urls
