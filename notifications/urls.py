"""Notification pages (mounted at the site root by ``moodsaas.urls``)."""

from __future__ import annotations

from django.urls import path

from notifications import views

urlpatterns = [
    path("app/notifications/preferences/", views.preferences, name="notifications-preferences"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="notifications-unsubscribe"),
]
