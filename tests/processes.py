"""Real server processes for tests (a Celery worker, daphne): started with their output in a log
file, always stopped, and the end of the log printed (pytest shows it only when a test fails)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def running(
    command: Sequence[str], log_path: Path, env: Mapping[str, str], stop_timeout: float = 30
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in the project root for the duration of the block."""
    with log_path.open("w") as log:
        process = subprocess.Popen(list(command), cwd=ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    print(log_tail(log_path))


def log_tail(log_path: Path, chars: int = 3000) -> str:
    return log_path.read_text(errors="replace")[-chars:]
