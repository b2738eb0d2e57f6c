"""The Celery application.

Queues: ``default`` for everything, ``inference`` for model work, so a busy model never delays
e-mail or housekeeping. Routing convention: a task whose name starts with ``inference.`` (or
``evaluations.analyse``) goes to the ``inference`` queue; give every task an explicit ``name=``.
Workers: ``celery -A moodsaas worker -Q inference,default``.

In embedded mode (no ``REDIS_URL``) ``task_always_eager`` runs tasks in-process.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moodsaas.settings")

app = Celery("moodsaas")
app.config_from_object("django.conf:settings", namespace="CELERY")

INFERENCE_TASK_PATTERNS = ("inference.*", "evaluations.analyse*")

app.conf.update(
    task_default_queue="default",
    task_queues=(Queue("default"), Queue("inference")),
    task_routes={pattern: {"queue": "inference"} for pattern in INFERENCE_TASK_PATTERNS},
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    event_serializer="json",
    task_ignore_result=True,
    # Acknowledge after the task ran so a crashed worker's task is redelivered (tasks are idempotent).
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    # One task at a time per process: inference tasks are long and memory-hungry.
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    timezone="UTC",
)
app.autodiscover_tasks()


@app.task(name="platform.ping", ignore_result=False)
def ping(value: str) -> str:
    """Echo ``value``: used by health checks and tests to prove a worker is consuming."""
    return value
