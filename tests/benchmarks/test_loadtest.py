"""The load benchmark's own accounting (the benchmark itself is a script, not a test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.loadtest import SERVICES, service_cpu_seconds
from tests.processes import ROOT, RedisServer, free_port


def test_the_benchmark_reads_the_cpu_time_of_the_local_database_and_redis() -> None:
    cpu = service_cpu_seconds()
    assert set(cpu) == set(SERVICES) == {"postgres", "redis"}
    # Zero when a service runs elsewhere (the report then leaves it out).
    assert all(isinstance(seconds, float) and seconds >= 0 for seconds in cpu.values())


def test_the_script_sets_django_up_itself_and_refuses_a_bad_load_before_starting_anything() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.loadtest", "--sessions", "0"],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("loadtest: error: "), done.stderr


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("needs_services")
def test_a_short_run_prints_its_figures_as_json_with_the_books_balanced(emotion_model: Path, tmp_path: Path) -> None:
    from django.db import connection

    redis = RedisServer(tmp_path)  # its own broker: its worker takes no other test's tasks
    redis.start()
    db = connection.settings_dict
    env = {
        **os.environ,
        "MOODSAAS_MODE": "services",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": redis.url,
        "MOODSAAS_MODEL_DIR": str(emotion_model),
        "MOODSAAS_VAR_DIR": str(tmp_path / "var"),
    }
    command = [
        sys.executable, "-m", "benchmarks.loadtest", "--sessions", "2", "--fps", "2", "--seconds", "3",
        "--workers", "1", "--port", str(free_port()), "--json",
    ]  # fmt: skip
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    finally:
        redis.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["frames_sent"] == 12
    assert figures["frames_processed"] + figures["frames_dropped"] + figures["errors"] == 12
    assert 0 <= figures["analysed_percent"] <= 100
    books = figures["database"]
    assert books["unaccounted"] == 0
    assert books["frames_received"] == 12 + figures["warmup_frames"]
    assert {"daphne", "worker", "client", "total"} <= set(figures["cpu_ms_per_frame"])
    assert figures["latency_ms"]["p95"] is None or figures["latency_ms"]["p95"] > 0
