"""The frame books balance after faults, on the real stack.

``frames_received = rejected + dropped + processed + failed`` once nothing is in flight, whatever
broke meanwhile: a frame number sent again after a reconnect, a Redis outage (broker and channel
layer), a worker process killed mid-task, database connections terminated. Each fault test runs
daphne and a prefork Celery worker as real processes on a Redis server of its own (started,
stopped and restarted here; the shared one is never touched) and the test database, streams real
JPEG frames over a real websocket, and then checks the books, the ledger and the observations:
nothing lost, nothing counted twice, and the client recovered without reconnecting.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import websockets
from django.db import connection

from evaluations.models import EvaluationSession, Observation, SessionFrame
from tests.browser import Daphne, server_env
from tests.factories import IssuedToken
from tests.processes import RedisServer, log_tail, running

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("needs_services", "close_thread_connections"),
]

FPS = 10
MAX_FRAME_AGE_MS = 1000


@dataclass
class Stack:
    daphne: Daphne
    worker: subprocess.Popen[bytes]
    redis: RedisServer
    worker_log: Path


@pytest.fixture
def stack(emotion_model: Path, tmp_path: Path) -> Iterator[Stack]:
    """daphne and a prefork Celery worker (one child) on a Redis of their own and the test database."""
    redis = RedisServer(tmp_path)
    redis.start()
    env = {
        **server_env(emotion_model, tmp_path),
        "REDIS_URL": redis.url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "EVALUATIONS_MAX_FRAME_AGE_MS": str(MAX_FRAME_AGE_MS),
        "EVALUATIONS_MAX_IN_FLIGHT": "4",
    }
    worker_log = tmp_path / "worker.log"
    command = [
        sys.executable, "-m", "celery", "-A", "moodsaas", "worker", "-Q", "inference", "-P", "prefork", "-c", "1",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO",
        "--hostname", f"books-{uuid.uuid4().hex[:8]}@%h",
    ]  # fmt: skip
    with ExitStack() as stack:
        stack.callback(redis.stop)
        worker = stack.enter_context(running(command, worker_log, env))
        daphne = stack.enter_context(Daphne(env, tmp_path))
        deadline = time.monotonic() + 120
        while " ready." not in worker_log.read_text(errors="replace"):
            assert worker.poll() is None and time.monotonic() < deadline, log_tail(worker_log)
            time.sleep(0.2)
        yield Stack(daphne, worker, redis, worker_log)


@dataclass
class Agent:
    """A client streaming frames over a real websocket and keeping every message it gets."""

    url: str
    token: IssuedToken
    jpeg: bytes
    socket: Any = None
    sent: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    closed: int | None = None
    reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        headers = {"Authorization": self.token.header, "Origin": "http://127.0.0.1"}
        self.socket = await websockets.connect(self.url, additional_headers=headers, max_size=None)
        hello = json.loads(await self.socket.recv())
        assert hello["type"] == "session.hello" and hello["can_send_frames"], hello
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for text in self.socket:
                self.messages.append(json.loads(text))
        except websockets.ConnectionClosed:
            pass
        self.closed = self.socket.close_code

    async def stream(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.sent += 1
            await self.socket.send(struct.pack(">I", self.sent) + self.jpeg)
            await asyncio.sleep(1 / FPS)

    def results_after(self, sequence: int) -> list[int]:
        return [m["sequence"] for m in self.messages if m["type"] == "frame.result" and m["sequence"] > sequence]

    async def stream_until_results(self, timeout: float = 60) -> None:
        """Keep streaming until frames sent from now on get results again (the client recovered)."""
        mark = self.sent
        deadline = time.monotonic() + timeout
        while not self.results_after(mark):
            assert time.monotonic() < deadline, f"no result after frame {mark}: {self.messages[-5:]}"
            await self.stream(0.5)

    async def close(self) -> None:
        await self.socket.close()
        assert self.reader is not None
        await self.reader


def agent_for(stack: Stack, session: EvaluationSession, token: IssuedToken, jpeg: bytes) -> Agent:
    return Agent(f"ws://127.0.0.1:{stack.daphne.port}/ws/sessions/{session.public_id}/", token, jpeg)


@dataclass(frozen=True)
class Books:
    received: int
    rejected: int
    dropped: int
    processed: int
    failed: int
    ledger: int
    ledger_processed: int
    ledger_faces: int
    observations: int

    @property
    def balanced(self) -> bool:
        return self.received == self.rejected + self.dropped + self.processed + self.failed


def books(session: EvaluationSession) -> Books:
    fresh = EvaluationSession.objects.for_company(session.company).get(pk=session.pk)
    ledger = SessionFrame.objects.for_company(session.company).filter(session=fresh)
    return Books(
        received=fresh.frames_received,
        rejected=fresh.frames_rejected,
        dropped=fresh.frames_dropped,
        processed=fresh.frames_processed,
        failed=fresh.frames_failed,
        ledger=ledger.count(),
        ledger_processed=ledger.filter(outcome="processed").count(),
        ledger_faces=sum(ledger.values_list("faces", flat=True)),
        observations=Observation.objects.for_company(session.company).filter(session=fresh).count(),
    )


async def settled(session: EvaluationSession, sent: int, timeout: float = 60) -> Books:
    """The books once every frame has its outcome (overdue ones are settled as lost by then)."""
    from asgiref.sync import sync_to_async

    deadline = time.monotonic() + timeout
    while True:
        current = await sync_to_async(books)(session)
        if current.received == sent and current.balanced:
            return current
        assert time.monotonic() < deadline, f"books did not balance: sent {sent}, {current}"
        await asyncio.sleep(0.5)


def assert_nothing_duplicated(result: Books) -> None:
    # One ledger row per frame that reached a worker (unique per session and number), its
    # outcome counted once, and the observations those rows announce, no more.
    assert result.ledger_processed == result.processed
    assert result.observations == result.ledger_faces
    assert result.ledger <= result.received - result.rejected


def report(fault: str, agent: Agent, result: Books) -> None:
    accounted = result.rejected + result.dropped + result.processed + result.failed
    outcomes: dict[str, int] = {}
    for message in agent.messages:
        key = message["type"] + (f":{message['reason']}" if message["type"] == "frame.dropped" else "")
        outcomes[key] = outcomes.get(key, 0) + 1
    print(f"{fault}: sent {agent.sent}, accounted {accounted}, duplicated 0; {result}; client saw {outcomes}")


async def test_a_frame_number_sent_again_after_a_reconnect_is_rejected_and_counted(
    stack: Stack, bob_session: EvaluationSession, token_a: IssuedToken, face_jpeg: bytes
) -> None:
    agent = agent_for(stack, bob_session, token_a, face_jpeg)
    await agent.connect()
    await agent.stream_until_results()
    await agent.close()
    sent_before = agent.sent

    again = agent_for(stack, bob_session, token_a, face_jpeg)
    await again.connect()
    for sequence in range(1, 4):  # what the agent page re-sends after a reconnect
        await again.socket.send(struct.pack(">I", sequence) + face_jpeg)
    again.sent = sent_before  # then carries on with new numbers
    await again.stream_until_results()
    await again.close()

    rejected = sorted(m["sequence"] for m in again.messages if m["type"] == "frame.rejected")
    assert rejected == [1, 2, 3]
    assert all(m["code"] == "duplicate" for m in again.messages if m["type"] == "frame.rejected")
    result = await settled(bob_session, again.sent + 3)
    assert result.rejected == 3
    assert_nothing_duplicated(result)
    report("re-sent numbers", again, result)


async def test_a_redis_outage_closes_no_socket_and_loses_no_frame(
    stack: Stack, bob_session: EvaluationSession, token_a: IssuedToken, face_jpeg: bytes
) -> None:
    agent = agent_for(stack, bob_session, token_a, face_jpeg)
    await agent.connect()
    await agent.stream_until_results()
    stack.redis.stop()  # broker, channel layer and in-flight bounds all gone, with what they held
    await agent.stream(3.0)
    stack.redis.start()  # empty: queued tasks, groups and slots are lost
    await agent.stream_until_results()
    await agent.close()

    assert agent.closed == 1000, "the socket stayed open through the outage"
    result = await settled(bob_session, agent.sent)
    unavailable = [m for m in agent.messages if m["type"] == "frame.dropped" and m["reason"] == "queue_unavailable"]
    assert unavailable, "frames sent during the outage are dropped and the client told"
    assert_nothing_duplicated(result)
    report("Redis killed for 3 s and restarted empty", agent, result)


async def test_a_worker_process_killed_mid_task_loses_and_duplicates_nothing(
    stack: Stack, bob_session: EvaluationSession, token_a: IssuedToken, face_jpeg: bytes
) -> None:
    agent = agent_for(stack, bob_session, token_a, face_jpeg)
    await agent.connect()
    await agent.stream_until_results()
    for _ in range(3):
        children = subprocess.run(
            ["pgrep", "-P", str(stack.worker.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert children, log_tail(stack.worker_log)
        for child in children:
            os.kill(int(child), signal.SIGKILL)
        await agent.stream(1.0)
    await agent.stream_until_results()  # the pool started a new child
    await agent.close()

    assert "WorkerLostError" in stack.worker_log.read_text(errors="replace") or "SIGKILL" in stack.worker_log.read_text(
        errors="replace"
    )
    result = await settled(bob_session, agent.sent)
    assert_nothing_duplicated(result)
    report("worker child SIGKILLed 3 times", agent, result)


def backend_pid() -> int:
    connection.ensure_connection()
    return int(connection.connection.info.backend_pid)


@pytest.fixture
def test_backend_pid(bob_session: EvaluationSession) -> int:
    """This thread's database connection (the test's own, spared by the fault below)."""
    return backend_pid()


async def test_database_connections_terminated_mid_stream_lose_and_duplicate_nothing(
    stack: Stack, bob_session: EvaluationSession, token_a: IssuedToken, face_jpeg: bytes, test_backend_pid: int
) -> None:
    from asgiref.sync import sync_to_async

    db = connection.settings_dict
    spared = [test_backend_pid, await sync_to_async(backend_pid)()]
    agent = agent_for(stack, bob_session, token_a, face_jpeg)
    await agent.connect()
    await agent.stream_until_results()
    terminated = 0
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True
    ) as admin:
        for _ in range(4):
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid() AND NOT pid = ANY(%s)",
                [db["NAME"], spared],
            ).fetchall()
            terminated += sum(1 for (done,) in rows if done)
            await agent.stream(0.7)
    await agent.stream_until_results()
    await agent.close()

    assert terminated >= 4
    assert agent.closed == 1000
    result = await settled(bob_session, agent.sent)
    assert_nothing_duplicated(result)
    report(f"{terminated} database connections terminated", agent, result)


def test_a_frame_whose_connection_dies_inside_the_transaction_is_recorded_exactly_once(
    bob_session: EvaluationSession, face_jpeg: bytes, emotion_model: Path
) -> None:
    from evaluations.queue import FrameJob
    from evaluations.tasks import analyse_live_frames

    db = connection.settings_dict
    killed: list[int] = []

    def terminate_on_first_ledger_insert(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not killed and 'INSERT INTO "evaluations_sessionframe"' in sql:
            pid = connection.connection.info.backend_pid
            with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres") as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            killed.append(pid)
        return execute(sql, params, many, context)

    jobs = [
        FrameJob(
            bob_session.company_id,
            bob_session.pk,
            sequence,
            time.time(),
            face_jpeg,
            f"{bob_session.public_id}/{sequence}/m{sequence}",
            f"m{sequence}",
        )
        for sequence in (1, 2)
    ]
    with connection.execute_wrapper(terminate_on_first_ledger_insert):
        analyse_live_frames([job.live_args() for job in jobs])
    assert killed, "the connection was terminated mid-transaction"
    result = books(bob_session)
    assert (result.processed, result.ledger, result.ledger_processed) == (2, 2, 2)
    assert result.observations == result.ledger_faces >= 2
