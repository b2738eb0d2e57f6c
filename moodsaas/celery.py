"""The Celery application.

Queues: ``default`` for everything, ``inference`` for model work, so a busy model never delays
e-mail or housekeeping. Routing convention: a task whose name starts with ``inference.`` (or
``evaluations.analyse``) goes to the ``inference`` queue; give every task an explicit ``name=``.
Workers: ``celery -A moodsaas worker -Q inference,default``.

In embedded mode (no ``REDIS_URL``) ``task_always_eager`` runs tasks in-process.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_prerun
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
    # msgpack only for batches of live frames (raw JPEG bytes; evaluations.queue.LIVE_SERIALIZER).
    accept_content=["json", "msgpack"],
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


@task_prerun.connect
def _close_old_connections(sender: Any = None, **_: object) -> None:
    """Treat each task like a request: drop database connections that broke or outlived
    ``CONN_MAX_AGE`` (health-checked on next use), keep the good ones (``CELERY_DB_REUSE_MAX``).

    Not for eager tasks: they run inside the caller's transaction, which this would close.
    """
    if sender is None or getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@app.task(name="platform.ping", ignore_result=False)
def ping(value: str) -> str:
    """Echo ``value``: used by health checks and tests to prove a worker is consuming."""
    return value
