"""Request bodies are refused before they are read: through a raw socket to a real daphne (its
Twisted side), and through the ASGI middleware (any other server)."""

from __future__ import annotations

import json
import os
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from channels.testing import ApplicationCommunicator
from django.conf import settings
from django.db import connection

from accounts.models import Company, User
from evaluations.models import Channel, EvaluationSession
from moodsaas.asgi import application
from tests.browser import Daphne
from tests.evaluations.conftest import start
from tests.factories import IssuedToken

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("needs_services")]

MiB = 1024 * 1024


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Daphne]:
    """daphne on the test database with small upload limits: 2 MiB anonymous, 3 MiB signed in."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "MOODSAAS_MODE": "services",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": str(settings.REDIS_URL),
        "MOODSAAS_VAR_DIR": str(tmp_path / "var"),
        "EVALUATIONS_MAX_IMAGE_BYTES": str(MiB),
        "EVALUATIONS_MAX_IMAGES_PER_UPLOAD": "1",
        "EVALUATIONS_MAX_VIDEO_BYTES": str(2 * MiB),
    }
    with Daphne(env, tmp_path) as daphne:
        yield daphne


def head(method: str, path: str, *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode()


def read_response(sock: socket.socket, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    header_block, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = header_block.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def test_an_anonymous_400_mb_post_is_refused_from_its_headers_alone(server: Daphne) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(
            head("POST", "/demo/", "Content-Type: application/octet-stream", f"Content-Length: {400 * 1024 * MiB}")
        )
        sock.sendall(b"x" * 1000)  # a sliver of the 400 MB it announced
        status, headers, body = read_response(sock)
        waited = time.monotonic() - started
    assert status == 413
    assert headers["connection"] == "close"
    assert json.loads(body)["code"] == "request_too_large"
    assert waited < 2  # answered at once, not after a body that never came


def test_a_signed_in_request_has_the_larger_limit_but_still_one(server: Daphne, token_a: IssuedToken) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head("POST", "/api/v1/analyse/", f"Authorization: {token_a.header}", f"Content-Length: {4 * MiB}"))
        assert read_response(sock)[0] == 413
    # 2.5 MiB: over the anonymous limit, within the signed-in one; the endpoint then judges it.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head("POST", "/demo/", f"Content-Length: {MiB * 5 // 2}"))
        assert read_response(sock)[0] == 413
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        body = b"x" * (MiB * 5 // 2)
        sock.sendall(
            head(
                "POST",
                "/api/v1/analyse/",
                f"Authorization: {token_a.header}",
                "Content-Type: application/octet-stream",
                f"Content-Length: {len(body)}",
            )
            + body
        )
        status, _, reply = read_response(sock)
    assert status == 415, reply  # reached DRF, which refuses the content type


def test_a_too_large_chunked_video_is_refused_while_it_streams(
    server: Daphne, bob: User, company_a: Company, token_a: IssuedToken
) -> None:
    session = start(bob, company_a, Channel.VIDEO)
    total, piece = 40 * MiB, b"\0" * (64 * 1024)
    sent, status, body = 0, 0, b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            head(
                "POST",
                f"/api/v1/sessions/{session.public_id}/video/",
                f"Authorization: {token_a.header}",
                "Content-Type: multipart/form-data; boundary=xyz",
                "Transfer-Encoding: chunked",
            )
            + b"%x\r\n%s\r\n" % (len(b"--xyz\r\n"), b"--xyz\r\n")
        )
        try:
            while sent < total:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break  # the server answered before the upload was over
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += len(piece)
                time.sleep(0.001)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, _, body = read_response(sock)
    assert status == 413, body
    assert json.loads(body)["code"] == "request_too_large"
    assert 3 * MiB <= sent < 16 * MiB  # refused soon after the 3 MiB limit, long before 40 MiB
    fresh = EvaluationSession.objects.for_company(company_a).get(pk=session.pk)
    assert (fresh.video_status, fresh.video_frames_total) == (session.video_status, session.video_frames_total)
    # The server is fine afterwards.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head("GET", "/healthz"))
        assert read_response(sock)[0] == 200


# --- The ASGI middleware (servers other than daphne) -------------------------------------------------


def http_scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/demo/",
        "raw_path": b"/demo/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def answer(communicator: ApplicationCommunicator) -> tuple[int, bytes]:
    start_message = await communicator.receive_output(timeout=10)
    body_message = await communicator.receive_output(timeout=10)
    return int(start_message["status"]), bytes(body_message["body"])


async def test_the_middleware_refuses_by_content_length_without_calling_django(settings: Any) -> None:
    settings.ANONYMOUS_REQUEST_MAX_BYTES = MiB
    communicator = ApplicationCommunicator(application, http_scope((b"content-length", str(400 * MiB).encode())))
    status, body = await answer(communicator)  # no body message was ever sent
    assert status == 413 and json.loads(body)["code"] == "request_too_large"
    await communicator.wait()


async def test_the_middleware_stops_a_chunked_body_at_the_limit(settings: Any) -> None:
    settings.ANONYMOUS_REQUEST_MAX_BYTES = MiB
    communicator = ApplicationCommunicator(application, http_scope((b"content-type", b"application/octet-stream")))
    for _ in range(3):
        await communicator.send_input({"type": "http.request", "body": b"x" * (MiB // 2), "more_body": True})
    status, body = await answer(communicator)
    assert status == 413 and json.loads(body)["code"] == "request_too_large"
    await communicator.wait()


async def test_a_websocket_message_over_daphnes_limit_closes_the_socket_with_1009(
    server: Daphne, company_a: Company, bob: User, token_a: IssuedToken
) -> None:
    import struct

    import websockets
    from asgiref.sync import sync_to_async

    session: EvaluationSession = await sync_to_async(start)(bob, company_a, Channel.LIVE)
    headers = {"Authorization": token_a.header, "Origin": "http://127.0.0.1"}
    url = f"ws://127.0.0.1:{server.port}/ws/sessions/{session.public_id}/"
    async with websockets.connect(url, additional_headers=headers, max_size=None) as socket_:
        assert json.loads(await socket_.recv())["type"] == "session.hello"
        # Over the frame limit but under daphne's: rejected, and the socket stays open.
        await socket_.send(struct.pack(">I", 1) + b"\xff\xd8" + b"\x00" * (settings.EVALUATIONS_MAX_FRAME_BYTES + 10))
        reply = json.loads(await socket_.recv())
        assert (reply["type"], reply["code"]) == ("frame.rejected", "frame_too_large")
        # Over daphne's 1 MiB: the documented close code, not a dropped connection.
        await socket_.send(struct.pack(">I", 2) + b"\xff\xd8" + b"\x00" * (MiB + 10))
        with pytest.raises(websockets.ConnectionClosed):
            await socket_.recv()
        assert socket_.close_code == 1009
