from __future__ import annotations

from django.apps import AppConfig


class ModelVersionsConfig(AppConfig):
    """The staff API over emotion model versions and the ``manage.py ml`` command; no models."""

    name = "modelversions"
    verbose_name = "Emotion model versions"
