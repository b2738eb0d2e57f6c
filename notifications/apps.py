from __future__ import annotations

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"

    def ready(self) -> None:
        # Listen to evaluations (which imports nothing of ours) and register the Celery tasks
        # that notifications.queue sends by name.
        from notifications import receivers, tasks  # noqa: F401

        receivers.connect()
