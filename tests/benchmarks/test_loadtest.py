"""The load benchmark's own accounting (the benchmark itself is a script, not a test)."""

from __future__ import annotations

import os
import subprocess
import sys

from benchmarks.loadtest import SERVICES, service_cpu_seconds
from tests.processes import ROOT


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
