"""``python -m benchmarks.loadtest``: N simulated agents stream real face JPEGs over websockets.

    python -m benchmarks.loadtest --sessions 25 --fps 5 --seconds 30

A benchmark, not a test, and not part of the product: it starts servers and reads ``/proc``. In services mode (PostgreSQL + Redis) it starts daphne and a Celery
inference worker (or uses running ones with ``--url``), opens one live session per agent,
streams frames at ``--fps`` for ``--seconds``, waits for every frame's outcome, and prints
frames sent, processed, dropped, errors and the frame-to-result latency percentiles measured
by the client (send -> ``frame.result`` received). It then checks the books in the database:
every frame the server received is processed, dropped, rejected or failed.

The load-test company (slug ``loadtest``), its agents and their sessions stay in the database
so that runs can be inspected; re-runs reuse the company and agents.

The script sets Django up itself (settings from ``$DJANGO_SETTINGS_MODULE``, default
``moodsaas.settings``); the project's models are imported inside the functions that use them,
after that set-up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import django
from django.conf import settings

LOADTEST_SLUG = "loadtest"
LOADTEST_DOMAIN = "loadtest.invalid"
DRAIN_SECONDS = 15.0
WARMUP_BASE = 2**31


@dataclass
class AgentRun:
    """What one simulated agent saw."""

    session: str
    sent: int = 0
    processed: int = 0
    dropped: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    outstanding: dict[int, float] = field(default_factory=dict)
    warmup: int = 0


def face_frames(width: int, height: int, count: int = 12) -> list[bytes]:
    """Real face photographs (scikit-image's astronaut), panned and zoomed, as webcam-sized JPEGs."""
    import cv2
    import numpy as np
    from skimage import data

    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    rng = random.Random(5)  # noqa: S311  (picks crops, not secrets)
    frames = []
    for _ in range(count):
        zoom = rng.uniform(0.75, 1.0)
        side = int(512 * zoom)
        x, y = rng.randint(0, 512 - side), rng.randint(0, 512 - side)
        crop = photo[y : y + side, x : x + side]
        canvas = np.full((height, width, 3), rng.randint(60, 140), np.uint8)
        scaled = cv2.resize(crop, (height, height))
        left = (width - height) // 2
        canvas[:, left : left + height] = scaled
        frames.append(bytes(cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 80])[1]))
    return frames


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its direct children (Linux ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0.0
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


SERVICES = {"postgres": "postgres", "redis": "redis-server"}
"""Local services whose CPU the report includes: process name (``/proc/<pid>/comm``) by label."""


def service_cpu_seconds() -> dict[str, float]:
    """CPU seconds of the local PostgreSQL and Redis, every process of each (Linux ``/proc``).

    Finished PostgreSQL backends count through the postmaster's reaped-children times, so
    connections opened and closed during the run are included. Other clients of the same
    servers are counted too: compare runs on a quiet machine.
    """
    tick = os.sysconf("SC_CLK_TCK")
    totals = dict.fromkeys(SERVICES, 0.0)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            comm = (proc / "comm").read_text().strip()
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        for label, name in SERVICES.items():
            if comm == name:
                # utime, stime, and the times of waited-for children (exited backends)
                totals[label] += sum(int(v) for v in fields[11:15]) / tick
    return totals


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 1)


class LoadTestError(Exception):
    """The load test cannot run or its servers failed; the message says what to do."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.loadtest",
        description="Simulate N agents streaming face frames over websockets; print throughput, drops and latency.",
    )
    parser.add_argument("--sessions", type=int, default=25, help="Concurrent agents (default 25).")
    parser.add_argument("--fps", type=float, default=5.0, help="Frames per second per agent (default 5).")
    parser.add_argument("--seconds", type=float, default=30.0, help="Streaming time (default 30).")
    parser.add_argument("--size", default="640x480", help="Frame size WIDTHxHEIGHT (default 640x480).")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes to start (default 2).")
    parser.add_argument(
        "--prefetch", type=int, default=4, help="Celery prefetch multiplier of the started worker (default 4)."
    )
    parser.add_argument("--port", type=int, default=8765, help="Port for the daphne this script starts.")
    parser.add_argument("--url", help="Use a running server, e.g. ws://127.0.0.1:8000 (start nothing).")
    parser.add_argument("--json", action="store_true", help="Print the figures as one JSON object.")
    return parser


class LoadTest:
    """One run: prepare the company, start the servers, simulate the agents, report."""

    def handle(self, options: dict[str, Any]) -> None:
        if not settings.REDIS_URL or settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
            raise LoadTestError("loadtest needs services mode: set DATABASE_URL (PostgreSQL) and REDIS_URL.")
        sessions, fps, seconds = options["sessions"], options["fps"], options["seconds"]
        if sessions < 1 or fps <= 0 or seconds <= 0:
            raise LoadTestError("--sessions, --fps and --seconds must be positive.")
        try:
            width, height = (int(v) for v in options["size"].lower().split("x"))
        except ValueError:
            raise LoadTestError("--size must look like 640x480.") from None
        if not 64 <= height <= width <= 1920:
            raise LoadTestError("--size must be landscape, between 64 and 1920 pixels wide.")

        secret, session_ids = self._prepare(sessions)
        frames = face_frames(width, height)
        started: list[subprocess.Popen[bytes]] = []
        base_url = options["url"]
        try:
            if base_url is None:
                base_url = f"ws://127.0.0.1:{options['port']}"
                started = self._start_services(options["port"], options["workers"], options["prefetch"])
            before = {
                name: cpu_seconds(process.pid) for name, process in zip(("daphne", "worker"), started, strict=False)
            }
            services_before = service_cpu_seconds()
            client_before = time.process_time()
            runs = asyncio.run(self._simulate(base_url.rstrip("/"), secret, session_ids, frames, fps, seconds))
            cpu = {
                name: cpu_seconds(process.pid) - before[name] for name, process in zip(before, started, strict=False)
            }
            cpu["client"] = time.process_time() - client_before
            services = service_cpu_seconds()
            cpu.update({name: services[name] - services_before[name] for name in services if services[name]})
            self._settle(runs)
        finally:
            for process in reversed(started):
                self._stop(process)
        self._report(runs, session_ids, options, len(frames[0]), cpu)

    def _prepare(self, count: int) -> tuple[str, list[str]]:
        """Create (or reuse) the load-test company and agents, a token, and one open session per agent."""
        from accounts import actions as accounts_actions
        from accounts.models import Actor, ApiToken, Company, Membership, Role, TokenScope, User
        from evaluations import actions
        from evaluations.models import Channel, EvaluationSession

        system = Actor()
        owner, _ = User.objects.get_or_create(email=f"owner@{LOADTEST_DOMAIN}")
        company = Company.objects.filter(slug=LOADTEST_SLUG).first()
        if company is None:
            company = accounts_actions.create_company(name="Loadtest", owner=owner)
        agents = []
        for i in range(count):
            agent, _ = User.objects.get_or_create(email=f"agent{i:03d}@{LOADTEST_DOMAIN}")
            if not Membership.objects.for_company(company).filter(user=agent).exists():
                accounts_actions.add_member(actor=system, company=company, user=agent, role=Role.AGENT)
            agents.append(agent)
        # Leftovers of an interrupted run would keep counting as open sessions.
        for stale in EvaluationSession.objects.for_company(company).filter(status__in=["open", "paused"]):
            actions.cancel_session(actor=system, session=stale)
        for token in ApiToken.objects.for_company(company).filter(revoked_at=None):
            accounts_actions.revoke_api_token(actor=system, token=token)
        _, secret = accounts_actions.create_api_token(
            actor=system, company=company, name="loadtest", scope=TokenScope.READ_WRITE
        )
        session_ids = [
            str(
                actions.start_session(
                    actor=system, company=company, agent=agent, channel=Channel.LIVE, notice_shown=True
                ).public_id
            )
            for agent in agents
        ]
        return secret, session_ids

    def _start_services(self, port: int, workers: int, prefetch: int) -> list[subprocess.Popen[bytes]]:
        """Start daphne and a Celery inference worker with this environment; wait until both serve."""
        logs = Path(settings.VAR_DIR) / "loadtest"
        logs.mkdir(parents=True, exist_ok=True)
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                raise LoadTestError(f"port {port} is busy; pass --port or --url to use a running server")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        bin_dir = Path(sys.executable).parent
        processes = []
        daphne = [str(bin_dir / "daphne"), "-b", "127.0.0.1", "-p", str(port), "moodsaas.asgi:application"]
        worker = [
            str(bin_dir / "celery"), "-A", "moodsaas", "worker", "-Q", "inference", "-c", str(workers),
            "-P", "prefork", "--prefetch-multiplier", str(prefetch), "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-n", f"loadtest-{os.getpid()}@%h", "--loglevel", "WARNING",
        ]  # fmt: skip
        for name, command in (("daphne", daphne), ("worker", worker)):
            log = (logs / f"{name}.log").open("wb")
            processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))  # noqa: S603  (fixed argv)
        try:
            self._wait_http(port, processes)
            self._wait_worker(f"loadtest-{os.getpid()}@{socket.gethostname()}", processes)
        except BaseException:
            for process in reversed(processes):
                self._stop(process)
            raise
        return processes

    @staticmethod
    def _wait_http(port: int, processes: list[subprocess.Popen[bytes]]) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if processes[0].poll() is not None:
                raise LoadTestError("daphne exited; see var/loadtest/daphne.log")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise LoadTestError("daphne did not answer within 60 s; see var/loadtest/daphne.log")

    @staticmethod
    def _wait_worker(name: str, processes: list[subprocess.Popen[bytes]]) -> None:
        from moodsaas.celery import app

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if processes[1].poll() is not None:
                raise LoadTestError("the Celery worker exited; see var/loadtest/worker.log")
            if app.control.ping(destination=[name], timeout=1.0):
                return
        raise LoadTestError("the Celery worker did not answer within 120 s; see var/loadtest/worker.log")

    @staticmethod
    def _stop(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    async def _simulate(
        self, base_url: str, secret: str, session_ids: list[str], frames: list[bytes], fps: float, seconds: float
    ) -> list[AgentRun]:
        runs = [AgentRun(session=session_id) for session_id in session_ids]
        warmed, ready = asyncio.Event(), list[int]()
        await asyncio.gather(
            *(
                self._agent(base_url, secret, run, frames, fps, seconds, i / len(runs) / fps, warmed, ready, len(runs))
                for i, run in enumerate(runs)
            )
        )
        return runs

    async def _agent(
        self,
        base_url: str,
        secret: str,
        run: AgentRun,
        frames: list[bytes],
        fps: float,
        seconds: float,
        offset: float,
        warmed: asyncio.Event,
        ready: list[int],
        total: int,
    ) -> None:
        """Stream frames at ``fps`` (staggered by ``offset``) and account for every one of them."""
        from websockets.asyncio.client import connect

        origin = base_url.replace("ws://", "http://").replace("wss://", "https://")
        async with connect(
            f"{base_url}/ws/sessions/{run.session}/",
            origin=origin,  # type: ignore[arg-type]
            additional_headers={"Authorization": f"Bearer {secret}"},
            compression=None,  # JPEG does not deflate; compressing would only burn CPU
            max_size=2**20,
        ) as websocket:
            hello = json.loads(await websocket.recv())
            if hello.get("type") != "session.hello" or not hello.get("can_send_frames"):
                run.errors += 1
                run.error_samples.append(f"handshake: {hello}")
                return
            # Warm-up: frames travel the whole path until one comes back analysed (worker processes
            # load their model on their first frames). Warm-up frames use their own sequence numbers,
            # are left out of the client figures and are counted in the database books.
            async with asyncio.timeout(120):
                analysed = False
                while not analysed:
                    run.warmup += 1
                    await websocket.send(struct.pack(">I", WARMUP_BASE + run.warmup) + frames[0])
                    while True:
                        message = json.loads(await websocket.recv())
                        if message.get("sequence") == WARMUP_BASE + run.warmup:
                            analysed = message.get("type") == "frame.result"
                            break
                    if not analysed:
                        await asyncio.sleep(0.2)
            ready.append(1)
            if len(ready) == total:
                warmed.set()
            await warmed.wait()
            done = asyncio.Event()
            sending_over = asyncio.Event()

            async def receive() -> None:
                async for raw in websocket:
                    message = json.loads(raw)
                    kind = message.get("type")
                    sequence = message.get("sequence")
                    sent_at = run.outstanding.pop(sequence, None) if sequence is not None else None
                    if kind == "frame.result":
                        run.processed += 1
                        if sent_at is not None:
                            run.latencies.append((time.perf_counter() - sent_at) * 1000)
                    elif kind == "frame.dropped":
                        run.dropped += 1
                    elif kind in ("frame.rejected", "frame.failed", "error"):
                        run.errors += 1
                        if len(run.error_samples) < 3:
                            run.error_samples.append(str(message))
                    if sending_over.is_set() and not run.outstanding:
                        done.set()
                        return

            await asyncio.sleep(offset)
            receiver = asyncio.create_task(receive())
            period = 1.0 / fps
            start = time.perf_counter()
            sequence = 0
            while (now := time.perf_counter()) - start < seconds:
                sequence += 1
                run.outstanding[sequence] = time.perf_counter()
                await websocket.send(struct.pack(">I", sequence) + frames[sequence % len(frames)])
                run.sent += 1
                await asyncio.sleep(max(0.0, start + sequence * period - now))
            sending_over.set()
            if run.outstanding:
                try:
                    await asyncio.wait_for(done.wait(), DRAIN_SECONDS)
                except TimeoutError:
                    run.errors += len(run.outstanding)
                    run.error_samples.append(
                        f"{len(run.outstanding)} frames without an outcome after {DRAIN_SECONDS:g} s"
                    )
            receiver.cancel()

    @staticmethod
    def _settle(runs: list[AgentRun], timeout: float = 15.0) -> None:
        """Wait until the books are closed: consumers flush their counters when the socket closes."""
        from accounts.models import Company
        from evaluations.models import EvaluationSession

        company = Company.objects.get(slug=LOADTEST_SLUG)
        expected = sum(run.sent + run.warmup for run in runs)
        sessions = EvaluationSession.objects.for_company(company).filter(public_id__in=[run.session for run in runs])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stats = [session.stats() for session in sessions.all()]
            received = sum(s["frames_received"] for s in stats)
            settled = sum(
                s["frames_processed"] + s["frames_dropped"] + s["frames_rejected"] + s["frames_failed"] for s in stats
            )
            if received >= expected and settled >= received:
                return
            time.sleep(0.2)

    def _report(
        self,
        runs: list[AgentRun],
        session_ids: list[str],
        options: dict[str, Any],
        frame_bytes: int,
        cpu: dict[str, float],
    ) -> None:
        """Finish the sessions, check the books in the database, print the figures."""
        from accounts.models import Actor, Company
        from evaluations import actions
        from evaluations.models import EvaluationSession

        system = Actor()
        company = Company.objects.get(slug=LOADTEST_SLUG)
        sessions = list(EvaluationSession.objects.for_company(company).filter(public_id__in=session_ids))
        unaccounted = 0
        for session in sessions:
            finished = actions.finish_session(actor=system, session=session)
            stats = finished.stats()
            unaccounted += stats["frames_received"] - (
                stats["frames_processed"] + stats["frames_dropped"] + stats["frames_rejected"] + stats["frames_failed"]
            )
        db = {
            key: sum(
                s.stats()[key] for s in EvaluationSession.objects.for_company(company).filter(public_id__in=session_ids)
            )
            for key in ("frames_received", "frames_processed", "frames_dropped", "frames_rejected", "frames_failed")
        }
        latencies = [value for run in runs for value in run.latencies]
        sent = sum(r.sent for r in runs)
        figures = {
            "sessions": options["sessions"],
            "fps": options["fps"],
            "seconds": options["seconds"],
            "frame_size": options["size"],
            "frame_bytes": frame_bytes,
            "frames_sent": sent,
            "frames_processed": sum(r.processed for r in runs),
            "frames_dropped": sum(r.dropped for r in runs),
            "errors": sum(r.errors for r in runs),
            "latency_ms": {
                "p50": percentile(latencies, 50),
                "p95": percentile(latencies, 95),
                "p99": percentile(latencies, 99),
                "mean": round(statistics.fmean(latencies), 1) if latencies else None,
                "max": round(max(latencies), 1) if latencies else None,
            },
            "warmup_frames": sum(r.warmup for r in runs),
            "throughput_fps": round(sum(r.processed for r in runs) / options["seconds"], 1),
            "analysed_percent": round(100 * sum(r.processed for r in runs) / max(1, sent), 1),
            "database": {**db, "unaccounted": unaccounted},
            # CPU time per analysed frame over the run (warm-up included), per process group: what
            # the pipeline costs, whatever else the machine is doing.
            "cpu_ms_per_frame": {
                **{name: round(seconds * 1000 / max(1, db["frames_processed"]), 1) for name, seconds in cpu.items()},
                "total": round(sum(cpu.values()) * 1000 / max(1, db["frames_processed"]), 1),
            },
            "load_average": [round(v, 2) for v in os.getloadavg()],
            "error_samples": [sample for run in runs for sample in run.error_samples][:5],
        }
        if options["json"]:
            print(json.dumps(figures))
            return
        lat = figures["latency_ms"]
        print(
            f"loadtest: {figures['sessions']} sessions x {figures['fps']:g} fps x {figures['seconds']:g} s, "
            f"{figures['frame_size']} JPEG ({frame_bytes:,} bytes)\n"
            f"  frames sent       {sent}\n"
            f"  processed         {figures['frames_processed']}  ({figures['analysed_percent']}% of sent, "
            f"{figures['throughput_fps']} frames/s)\n"
            f"  dropped           {figures['frames_dropped']}\n"
            f"  errors            {figures['errors']}\n"
            f"  latency ms        p50 {lat['p50']}  p95 {lat['p95']}  p99 {lat['p99']}  max {lat['max']}\n"
            f"  warm-up frames    {figures['warmup_frames']}  (not in the figures above; in the database below)\n"
            f"  cpu ms per frame  {', '.join(f'{k} {v}' for k, v in figures['cpu_ms_per_frame'].items())}"
            f"  (load average {figures['load_average'][0]})\n"
            f"  database          received {db['frames_received']}, processed {db['frames_processed']}, "
            f"dropped {db['frames_dropped']}, rejected {db['frames_rejected']}, failed {db['frames_failed']}, "
            f"unaccounted {unaccounted}"
        )
        for sample in figures["error_samples"]:
            print(f"  error: {sample}")


def main(argv: list[str] | None = None) -> int:
    options = vars(build_parser().parse_args(argv))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moodsaas.settings")
    django.setup()
    try:
        LoadTest().handle(options)
    except LoadTestError as exc:
        print(f"loadtest: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
