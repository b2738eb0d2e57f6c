from __future__ import annotations

from django.apps import AppConfig


class MlConfig(AppConfig):
    """Registers the model-registry management command and staff API; ``ml`` has no models."""

    name = "ml"
    verbose_name = "Emotion model pipeline"
