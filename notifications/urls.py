"""Notification pages (mounted at the site root by ``moodsaas.urls``)."""

from __future__ import annotations

from django.urls import path

from notifications import views

urlpatterns = [
    path("app/notifications/", views.alert_list, name="notifications-list"),
    path("app/notifications/read-all/", views.alert_read_all, name="notifications-read-all"),
    path("app/notifications/<uuid:notification_id>/", views.alert_open, name="notifications-open"),
    path("app/notifications/<uuid:notification_id>/read/", views.alert_read, name="notifications-read"),
    path("app/notifications/preferences/", views.preferences, name="notifications-preferences"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="notifications-unsubscribe"),
    # Admins: company notification settings and webhook endpoints (in the settings section)
    path("app/settings/notifications/", views.company_settings, name="notifications-settings"),
    path("app/settings/webhooks/", views.webhook_list, name="notifications-webhooks"),
    path("app/settings/webhooks/<uuid:endpoint_id>/", views.webhook_detail, name="notifications-webhook"),
    path("app/settings/webhooks/<uuid:endpoint_id>/test/", views.webhook_test, name="notifications-webhook-test"),
    path("app/settings/webhooks/<uuid:endpoint_id>/rotate/", views.webhook_rotate, name="notifications-webhook-rotate"),
    path("app/settings/webhooks/<uuid:endpoint_id>/delete/", views.webhook_delete, name="notifications-webhook-delete"),
]
