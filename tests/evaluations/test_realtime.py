"""The live pipeline on the real services: websockets on the Redis channel layer, a real Celery
worker consuming the Redis broker, the real inference engine, PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from celery.contrib.testing.worker import start_worker
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.models import Actor, Company, Role, User
from evaluations import actions
from evaluations.models import Channel, EvaluationSession, Observation, SessionFrame
from evaluations.realtime import InFlight, _sync_redis
from moodsaas.asgi import application
from moodsaas.celery import app as celery_app
from tests.evaluations.conftest import start
from tests.factories import IssuedToken

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("needs_services", "close_thread_connections"),
]

ORIGIN = (b"origin", b"http://127.0.0.1")
Headers = list[tuple[bytes, bytes]]


def frame(sequence: int, jpeg: bytes) -> bytes:
    return struct.pack(">I", sequence) + jpeg


def signed_in(user: User) -> Headers:
    client = Client()
    client.force_login(user)
    return [ORIGIN, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


@pytest.fixture
def bob_headers(bob: User) -> Headers:
    return signed_in(bob)


@pytest.fixture
def alice_headers(alice: User) -> Headers:
    return signed_in(alice)


@pytest.fixture
def charlie_headers(charlie: User) -> Headers:
    return signed_in(charlie)


@pytest.fixture
def worker(emotion_model: Path) -> Iterator[None]:
    """A real Celery worker (in a thread of this process) consuming the inference queue from Redis."""
    celery_app.conf.task_always_eager = False
    celery_app.control.purge()
    with start_worker(
        celery_app,
        pool="solo",
        concurrency=1,
        queues=["inference"],
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
    ):
        yield
    celery_app.conf.task_always_eager = True


async def open_socket(path: str, headers: Headers) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def hello(path: str, headers: Headers) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    communicator = await open_socket(path, headers)
    return communicator, await communicator.receive_json_from(timeout=10)


async def close_code(path: str, headers: Headers) -> int:
    communicator = await open_socket(path, headers)
    message = await communicator.receive_output(timeout=10)
    assert message["type"] == "websocket.close"
    await communicator.wait()
    return int(message["code"])


async def until(
    communicator: WebsocketCommunicator, wanted: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> list[dict[str, Any]]:
    """Collect messages up to and including the first one ``wanted`` accepts."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            message = await communicator.receive_json_from(timeout=timeout)
            seen.append(message)
            if wanted(message):
                return seen


def path_of(session: EvaluationSession) -> str:
    return f"/ws/sessions/{session.public_id}/"


@sync_to_async
def fetch(session: EvaluationSession) -> EvaluationSession:
    return EvaluationSession.objects.for_company(session.company).get(pk=session.pk)


@sync_to_async
def footprint(session: EvaluationSession) -> tuple[Any, ...]:
    fresh = EvaluationSession.objects.for_company(session.company).get(pk=session.pk)
    return (
        tuple(fresh.stats().values()),
        fresh.status,
        SessionFrame.unscoped_objects.count(),
        Observation.unscoped_objects.count(),
    )


async def test_frames_flow_through_a_real_worker_to_the_agent_and_the_dashboard(
    worker: None,
    bob_session: EvaluationSession,
    bob_headers: Headers,
    alice_headers: Headers,
    face_jpeg: bytes,
    settings: Any,
) -> None:
    settings.EVALUATIONS_MAX_IN_FLIGHT = 3  # the three frames below are sent back to back
    agent, greeting = await hello(path_of(bob_session), bob_headers)
    assert greeting["type"] == "session.hello"
    assert greeting["can_send_frames"] is True
    dashboard, dash_greeting = await hello("/ws/dashboard/", alice_headers)
    assert dash_greeting["type"] == "dashboard.hello"

    for sequence in (1, 2, 3):
        await agent.send_to(bytes_data=frame(sequence, face_jpeg))
    results: dict[int, dict[str, Any]] = {}

    def all_results(message: dict[str, Any]) -> bool:
        if message["type"] == "frame.result":
            results[message["sequence"]] = message
        return len(results) == 3

    seen = await until(agent, all_results)
    assert not [m for m in seen if m["type"] not in ("frame.result",)], seen
    first = results[1]
    assert first["session"] == str(bob_session.public_id)
    assert first["model_version"] == "tiny-eval"
    assert len(first["faces"]) >= 1 and first["faces"][0]["primary"] is True
    assert set(first["faces"][0]["emotions"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    assert set(first["grade"]) == {"outcome", "letter", "score", "confidence"}
    assert first["grade"]["score"] is not None

    on_dashboard = await until(dashboard, lambda m: m["type"] == "frame.result" and m["sequence"] == 3)
    assert all(m["session"] == str(bob_session.public_id) for m in on_dashboard)

    # A repeated sequence number is refused on the spot and never analysed twice.
    await agent.send_to(bytes_data=frame(2, face_jpeg))
    rejected = await until(agent, lambda m: m["type"] == "frame.rejected")
    assert rejected[-1]["code"] == "duplicate"

    await agent.disconnect()
    await dashboard.disconnect()
    session = await fetch(bob_session)
    assert session.stats() | {"faces_observed": 0} == {
        "frames_received": 4,
        "frames_rejected": 1,
        "frames_dropped": 0,
        "frames_processed": 3,
        "frames_failed": 0,
        "faces_observed": 0,
    }
    assert await sync_to_async(SessionFrame.unscoped_objects.filter(session=session).count)() == 3


async def test_a_retried_task_does_not_duplicate_observations(
    worker: None, bob_session: EvaluationSession, face_jpeg: bytes
) -> None:
    import base64

    from evaluations.tasks import analyse_frame

    args = (bob_session.company_id, bob_session.pk, 9, 1_700_000_000.0, base64.b64encode(face_jpeg).decode())
    for _ in range(3):  # what a redelivery after a worker crash looks like
        await sync_to_async(analyse_frame.apply_async)(args=args)
    for _ in range(300):
        session = await fetch(bob_session)
        if session.frames_processed:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # let the two copies run too
    session = await fetch(bob_session)
    assert session.frames_processed == 1
    faces = await sync_to_async(Observation.unscoped_objects.filter(session=session).count)()
    assert faces == session.faces_observed >= 1


async def test_it_rejects_malformed_frames_precisely(
    bob_session: EvaluationSession, bob_headers: Headers, face_jpeg: bytes, face_bgr: Any, settings: Any
) -> None:
    import cv2

    settings.EVALUATIONS_MAX_FRAME_BYTES = 60_000
    small_png = bytes(cv2.imencode(".png", cv2.resize(face_bgr, (64, 64)))[1])
    agent, _ = await hello(path_of(bob_session), bob_headers)
    cases = [
        (b"\x00\x01", "frame_format"),
        (frame(1, small_png), "frame_not_jpeg"),
        (frame(2, face_jpeg + b"\x00" * 60_000), "frame_too_large"),
    ]
    for message, code in cases:
        await agent.send_to(bytes_data=message)
        reply = await agent.receive_json_from(timeout=10)
        assert (reply["type"], reply["code"]) == ("frame.rejected", code)
    await agent.send_to(text_data="hello")
    assert (await agent.receive_json_from(timeout=10))["code"] == "unknown_command"
    await agent.send_to(text_data=json.dumps({"type": "ping"}))
    assert (await agent.receive_json_from(timeout=10))["type"] == "pong"
    await agent.disconnect()
    session = await fetch(bob_session)
    assert (session.frames_received, session.frames_rejected, session.frames_processed) == (3, 3, 0)


async def test_a_paused_session_refuses_frames_until_resumed(
    bob: User, bob_session: EvaluationSession, bob_headers: Headers, face_jpeg: bytes, emotion_model: Path
) -> None:
    agent, _ = await hello(path_of(bob_session), bob_headers)
    actor = Actor(user=bob, role=Role.AGENT)
    await sync_to_async(actions.pause_session)(actor=actor, session=bob_session)
    status = await until(agent, lambda m: m["type"] == "session.status")
    assert status[-1]["status"] == "paused"
    await agent.send_to(bytes_data=frame(1, face_jpeg))
    reply = await agent.receive_json_from(timeout=10)
    assert (reply["type"], reply["code"]) == ("frame.rejected", "not_open")

    await sync_to_async(actions.resume_session)(actor=actor, session=bob_session)
    await until(agent, lambda m: m["type"] == "session.status" and m["status"] == "open")
    await agent.send_to(bytes_data=frame(2, face_jpeg))  # tasks run eagerly here: no worker
    result = await until(agent, lambda m: m["type"] == "frame.result")
    assert result[-1]["sequence"] == 2
    await agent.disconnect()


@pytest.mark.parametrize("bound", ["session", "total"])
async def test_frames_over_the_in_flight_bounds_are_dropped_and_counted(
    bob_session: EvaluationSession, bob_headers: Headers, face_jpeg: bytes, settings: Any, bound: str
) -> None:
    import time

    settings.EVALUATIONS_MAX_IN_FLIGHT = 2
    settings.EVALUATIONS_MAX_IN_FLIGHT_TOTAL = 3
    # Workers are behind: this session (or all sessions together) already have frames queued.
    key = InFlight.key(str(bob_session.public_id)) if bound == "session" else InFlight.TOTAL_KEY
    queued = {f"queued-{i}": time.time() for i in range(2 if bound == "session" else 3)}
    redis = _sync_redis()
    await sync_to_async(redis.zadd)(key, queued)
    try:
        agent, _ = await hello(path_of(bob_session), bob_headers)
        await agent.send_to(bytes_data=frame(1, face_jpeg))
        reply = await agent.receive_json_from(timeout=10)
        assert (reply["type"], reply["sequence"], reply["reason"]) == ("frame.dropped", 1, "busy")
        await agent.disconnect()
    finally:
        await sync_to_async(redis.delete)(key)
    session = await fetch(bob_session)
    assert (session.frames_received, session.frames_dropped, session.frames_processed) == (1, 1, 0)


async def test_slots_of_frames_lost_by_a_crashed_worker_expire(bob_session: EvaluationSession) -> None:
    import time

    key = InFlight.key(str(bob_session.public_id))
    redis = _sync_redis()
    await sync_to_async(redis.zadd)(key, {"lost-1": time.time() - 60, "lost-2": time.time() - 60})
    try:
        slot = InFlight.slot(str(bob_session.public_id), 1, "m1")
        assert await InFlight.acquire(slot, 2, 100)
        assert await sync_to_async(redis.zcard)(key) == 1
        await sync_to_async(InFlight.release)(slot)
        assert await sync_to_async(redis.zcard)(key) == 0
    finally:
        await sync_to_async(redis.delete)(key)


async def test_frames_above_the_rate_limit_are_dropped_and_counted(
    bob_session: EvaluationSession, bob_headers: Headers, face_jpeg: bytes, settings: Any, emotion_model: Path
) -> None:
    settings.EVALUATIONS_LIVE_MAX_FPS = 1
    agent, _ = await hello(path_of(bob_session), bob_headers)
    for sequence in (1, 2, 3):
        await agent.send_to(bytes_data=frame(sequence, face_jpeg))
    messages = await until(agent, lambda m: m["type"] == "frame.result", timeout=30)
    messages += [await agent.receive_json_from(timeout=10) for _ in range(3 - len(messages))]
    await agent.disconnect()
    dropped = sorted(m["sequence"] for m in messages if m["type"] == "frame.dropped")
    assert dropped == [2, 3]
    assert all(m["reason"] == "rate" for m in messages if m["type"] == "frame.dropped")
    session = await fetch(bob_session)
    assert (session.frames_received, session.frames_dropped, session.frames_processed) == (3, 2, 1)


async def test_frames_are_refused_for_a_session_that_is_not_live(
    bob: User, company_a: Company, bob_headers: Headers, face_jpeg: bytes
) -> None:
    session = await sync_to_async(start)(bob, company_a, Channel.IMAGES)
    agent, _ = await hello(path_of(session), bob_headers)
    await agent.send_to(bytes_data=frame(1, face_jpeg))
    reply = await agent.receive_json_from(timeout=10)
    assert (reply["type"], reply["code"]) == ("frame.rejected", "channel")
    await agent.disconnect()


async def test_charlie_cannot_open_or_feed_a_session_of_company_a(
    bob_session: EvaluationSession, charlie_headers: Headers, token_b: IssuedToken
) -> None:
    before = await footprint(bob_session)
    assert await close_code(path_of(bob_session), charlie_headers) == 4404
    token_headers = [ORIGIN, (b"authorization", token_b.header.encode())]
    assert await close_code(path_of(bob_session), token_headers) == 4404
    assert await footprint(bob_session) == before


async def test_an_agent_cannot_open_a_colleagues_session_nor_the_dashboard(
    alice: User, company_a: Company, bob_headers: Headers
) -> None:
    session = await sync_to_async(start)(alice, company_a, Channel.LIVE, Role.ADMIN)
    before = await footprint(session)
    assert await close_code(path_of(session), bob_headers) == 4404
    assert await close_code("/ws/dashboard/", bob_headers) == 4403
    assert await footprint(session) == before


async def test_anonymous_and_bad_token_sockets_are_refused(bob_session: EvaluationSession) -> None:
    assert await close_code(path_of(bob_session), [ORIGIN]) == 4401
    bad = [ORIGIN, (b"authorization", b"Bearer mood_not-a-real-token")]
    assert await close_code(path_of(bob_session), bad) == 4401
    assert await close_code("/ws/dashboard/", [ORIGIN]) == 4401


async def test_an_api_token_streams_frames_with_a_bearer_header(
    bob_session: EvaluationSession, token_a: IssuedToken, read_token_a: IssuedToken, face_jpeg: bytes
) -> None:
    writer, greeting = await hello(path_of(bob_session), [ORIGIN, (b"authorization", token_a.header.encode())])
    assert greeting["can_send_frames"] is True
    await writer.disconnect()
    reader, greeting = await hello(path_of(bob_session), [ORIGIN, (b"authorization", read_token_a.header.encode())])
    assert greeting["can_send_frames"] is False
    await reader.send_to(bytes_data=frame(1, face_jpeg))
    reply = await reader.receive_json_from(timeout=10)
    assert (reply["type"], reply["code"]) == ("frame.rejected", "forbidden")
    await reader.disconnect()


async def test_video_progress_is_pushed_over_the_websocket(
    bob: User, company_a: Company, bob_headers: Headers, face_video: Path, emotion_model: Path
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    session = await sync_to_async(start)(bob, company_a, Channel.VIDEO)
    agent, _ = await hello(path_of(session), bob_headers)

    def upload() -> int:
        client = APIClient()
        client.force_login(bob)
        video = SimpleUploadedFile("call.mp4", face_video.read_bytes(), content_type="video/mp4")
        response = client.post(f"/api/v1/sessions/{session.public_id}/video/", {"video": video}, format="multipart")
        return int(response.status_code)

    assert await sync_to_async(upload)() == 202  # tasks run eagerly: analysed before the response
    messages = await until(agent, lambda m: m["type"] == "session.status" and m["status"] == "finished")
    progress = [m for m in messages if m["type"] == "video.progress"]
    assert [m["video_status"] for m in progress][:2] == ["queued", "processing"]
    assert progress[-1]["video_status"] == "done" and progress[-1]["progress"] == 1.0
    assert progress[-1]["frames_done"] == 6
    assert messages[-1]["grade"]["frames"] == 6
    await agent.disconnect()


async def test_an_idle_socket_outlives_the_redis_blocking_read(
    bob: User, bob_session: EvaluationSession, bob_headers: Headers
) -> None:
    agent, _ = await hello(path_of(bob_session), bob_headers)
    await asyncio.sleep(7)  # longer than channels-redis' 5 s BZPOPMIN and redis-py 8's default socket timeout
    await sync_to_async(actions.pause_session)(actor=Actor(user=bob, role=Role.AGENT), session=bob_session)
    status = await until(agent, lambda m: m["type"] == "session.status", timeout=10)
    assert status[-1]["status"] == "paused"
    await agent.disconnect()


async def test_the_dashboard_shows_only_the_viewers_company(
    bob: User, bob_session: EvaluationSession, alice_headers: Headers, charlie_headers: Headers
) -> None:
    alices, _ = await hello("/ws/dashboard/", alice_headers)
    charlies, _ = await hello("/ws/dashboard/", charlie_headers)
    await sync_to_async(actions.pause_session)(actor=Actor(user=bob, role=Role.AGENT), session=bob_session)
    seen = await until(alices, lambda m: m["type"] == "session.status")
    assert seen[-1]["session"] == str(bob_session.public_id)
    assert await charlies.receive_nothing(timeout=1.5)
    await alices.disconnect()
    await charlies.disconnect()


async def test_a_truncated_jpeg_is_reported_as_failed_and_counted(
    bob_session: EvaluationSession, bob_headers: Headers, face_jpeg: bytes, emotion_model: Path
) -> None:
    agent, _ = await hello(path_of(bob_session), bob_headers)
    await agent.send_to(bytes_data=frame(1, face_jpeg[:3000]))  # a JPEG header, then nothing
    failed = await until(agent, lambda m: m["type"] == "frame.failed", timeout=30)
    assert failed[-1]["sequence"] == 1
    assert "truncated" in failed[-1]["detail"] or "corrupt" in failed[-1]["detail"]
    await agent.disconnect()
    session = await fetch(bob_session)
    assert (session.frames_received, session.frames_failed, session.frames_processed) == (1, 1, 0)


async def test_a_stale_frame_is_reported_to_the_agent_and_the_dashboard(
    bob_session: EvaluationSession, bob_headers: Headers, alice_headers: Headers, face_jpeg: bytes
) -> None:
    import base64
    import time

    from evaluations.tasks import analyse_frame

    agent, _ = await hello(path_of(bob_session), bob_headers)
    dashboard, _ = await hello("/ws/dashboard/", alice_headers)
    slot = InFlight.slot(str(bob_session.public_id), 7, "m7")
    # A frame that waited a minute in the queue (workers stalled): the task drops it unanalysed.
    await sync_to_async(analyse_frame)(
        bob_session.company_id, bob_session.pk, 7, time.time() - 60, base64.b64encode(face_jpeg).decode(), slot
    )
    for communicator in (agent, dashboard):
        (message,) = (await until(communicator, lambda m: m["type"] == "frame.dropped"))[-1:]
        assert (message["session"], message["sequence"], message["reason"]) == (str(bob_session.public_id), 7, "stale")
        assert message["age_ms"] >= 60_000
        await communicator.disconnect()
    session = await fetch(bob_session)
    assert (session.frames_dropped, session.frames_processed) == (1, 0)


@pytest.mark.parametrize("stores", [False, True])
async def test_live_frames_are_kept_only_for_a_company_that_stores_frames(
    bob_session: EvaluationSession,
    bob_headers: Headers,
    face_jpeg: bytes,
    emotion_model: Path,
    settings: Any,
    tmp_path: Path,
    stores: bool,
) -> None:
    from evaluations.models import StoredFrame

    settings.MEDIA_ROOT = str(tmp_path / "media")
    await sync_to_async(Company.objects.filter(pk=bob_session.company_id).update)(store_frames=stores)
    agent, _ = await hello(path_of(bob_session), bob_headers)
    await agent.send_to(bytes_data=frame(1, face_jpeg))
    await until(agent, lambda m: m["type"] == "frame.result")
    await agent.disconnect()

    def stored() -> list[StoredFrame]:
        return list(StoredFrame.objects.for_company_id(bob_session.company_id).all())

    kept = await sync_to_async(stored)()
    assert [(f.sequence, f.content_type) for f in kept] == ([(1, "image/jpeg")] if stores else [])
    if stores:
        assert (Path(settings.MEDIA_ROOT) / kept[0].file.name).read_bytes() == face_jpeg


async def test_an_admin_whose_company_requires_two_factor_gets_no_socket_until_it_is_set_up(
    bob_session: EvaluationSession, alice_headers: Headers, bob_headers: Headers
) -> None:
    await sync_to_async(Company.objects.filter(pk=bob_session.company_id).update)(mfa_required_for_admins=True)
    assert await close_code("/ws/dashboard/", alice_headers) == 4403
    assert await close_code(path_of(bob_session), alice_headers) == 4403
    agent, greeting = await hello(path_of(bob_session), bob_headers)  # agents are not required to
    assert greeting["type"] == "session.hello"
    await agent.disconnect()
