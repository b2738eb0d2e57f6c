"""The Celery app: queues, routing, JSON (msgpack for live frame batches), and a real worker through the Redis broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from moodsaas.celery import app, ping
from tests.processes import running


def test_tasks_named_inference_dot_go_to_the_inference_queue() -> None:
    router = app.amqp.router
    assert router.route({}, "inference.classify_frames")["queue"].name == "inference"
    assert router.route({}, "evaluations.analyse_frames")["queue"].name == "inference"
    assert router.route({}, "evaluations.send_report")["queue"].name == "default"
    assert router.route({}, "platform.ping")["queue"].name == "default"


def test_the_app_speaks_json_only_with_time_limits_and_late_acks() -> None:
    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json", "msgpack"]  # msgpack: batches of live frames only
    assert conf.task_acks_late is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_time_limit > conf.task_soft_time_limit > 0
    assert {q.name for q in conf.task_queues} == {"default", "inference"}


def _require_redis() -> str:
    if not settings.REDIS_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must run against Redis: set REDIS_URL (make test does)")
        pytest.skip("needs REDIS_URL (services mode)")
    return str(settings.REDIS_URL)


@pytest.fixture
def redis_worker(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real ``celery worker`` process consuming both queues from the Redis broker."""
    _require_redis()
    app.conf.task_always_eager = False
    app.control.purge()
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "moodsaas",
        "worker",
        "-Q",
        "inference,default",
        "--pool",
        "solo",
        "--concurrency",
        "1",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--hostname",
        f"test-{uuid.uuid4().hex[:8]}@%h",
    ]
    with running(command, tmp_path / "worker.log", os.environ) as worker:
        yield worker


def test_a_real_worker_runs_a_task_sent_through_the_redis_broker(redis_worker) -> None:
    started = time.monotonic()
    value = uuid.uuid4().hex
    result = ping.apply_async(args=[value])
    assert result.get(timeout=90) == value
    # And the inference queue is consumed too.
    other = ping.apply_async(args=[value + "-inference"], queue="inference")
    assert other.get(timeout=30) == value + "-inference"
    assert time.monotonic() - started < 120


class _Task:
    """The part of a Celery task the pre-run hook reads."""

    def __init__(self, eager: bool) -> None:
        self.request = type("Request", (), {"is_eager": eager})()


@pytest.mark.django_db(transaction=True)
def test_workers_keep_a_good_database_connection_between_tasks_and_drop_an_expired_one() -> None:
    from django.db import connection

    from moodsaas.celery import _close_old_connections

    # Celery's Django fix-up would otherwise reconnect for every task (~10 ms per live frame).
    assert app.conf.get("CELERY_DB_REUSE_MAX") == settings.CELERY_DB_REUSE_MAX > 0

    connection.ensure_connection()
    kept = connection.connection
    _close_old_connections(sender=_Task(eager=False))
    assert connection.connection is kept

    connection.close_at = time.monotonic() - 1  # past CONN_MAX_AGE
    _close_old_connections(sender=_Task(eager=True))  # eager tasks run inside the caller's transaction
    assert connection.connection is kept
    _close_old_connections(sender=_Task(eager=False))
    assert connection.connection is None
