"""Websocket routes of evaluation sessions (collected by ``moodsaas.routing``)."""

from __future__ import annotations

from django.urls import path

from evaluations.consumers import DashboardConsumer, SessionConsumer

websocket_urlpatterns = [
    path("ws/sessions/<uuid:session_id>/", SessionConsumer.as_asgi()),
    path("ws/dashboard/", DashboardConsumer.as_asgi()),
]
