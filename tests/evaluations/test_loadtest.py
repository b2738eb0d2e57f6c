"""The load benchmark's own accounting (the benchmark itself is a script, not a test)."""

from __future__ import annotations

from evaluations.management.commands.loadtest import SERVICES, service_cpu_seconds


def test_the_benchmark_reads_the_cpu_time_of_the_local_database_and_redis() -> None:
    cpu = service_cpu_seconds()
    assert set(cpu) == set(SERVICES) == {"postgres", "redis"}
    # Zero when a service runs elsewhere (the report then leaves it out).
    assert all(isinstance(seconds, float) and seconds >= 0 for seconds in cpu.values())
