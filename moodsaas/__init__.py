"""MoodSaaS project package: settings, URLs, ASGI/WSGI entry points and the Celery app."""

from __future__ import annotations

from moodsaas.celery import app as celery_app

__all__ = ["celery_app"]
