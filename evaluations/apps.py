from __future__ import annotations

from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "evaluations"

    def ready(self) -> None:
        from accounts.actions import RESERVED_SLUGS
        from accounts.models import RUBRIC_CHECKS
        from accounts.schema import RUBRIC_SCHEMA
        from evaluations import grading, tasks  # noqa: F401  (registers the Celery tasks evaluations.queue sends)
        from evaluations.demo import DEMO_SLUG

        RESERVED_SLUGS.add(DEMO_SLUG)  # a real "Demo Support Co" must not show the demo banner

        if grading.check_rubric not in RUBRIC_CHECKS:
            RUBRIC_CHECKS.append(grading.check_rubric)
        RUBRIC_SCHEMA.clear()
        RUBRIC_SCHEMA.update(grading.RUBRIC_JSON_SCHEMA)  # the company API documents the rubric with it
