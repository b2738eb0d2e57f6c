"""ASGI entry point (daphne): HTTP through Django, websockets through Channels.

Websockets are authenticated with the Django session (``AuthMiddlewareStack``) and accept only
origins in ``ALLOWED_HOSTS``.

Request bodies are bounded before anything reads them: ``ANONYMOUS_REQUEST_MAX_BYTES`` for a
request that presents no credentials (no session cookie, no ``Authorization`` header; enough
for the demo's photo), ``REQUEST_MAX_BYTES`` otherwise (the largest upload). Over the limit the
answer is 413 ``{"detail", "code": "request_too_large"}`` and the connection closes:

1. Under daphne, ``LimitedWebRequest`` replaces daphne's request class. daphne (Twisted) would
   otherwise receive the whole body before calling the application, then queue all of it in
   memory for it: an anonymous 400 MB POST cost the web process 400 MB. Here a declared
   ``Content-Length`` over the limit is refused as soon as the headers are in, and a chunked
   body is counted as it arrives and refused once it passes the limit.
2. ``BodyLimitMiddleware`` applies the same limits at the ASGI level (any other server, and
   Channels' test client): by ``Content-Length`` before calling Django, and by a running count
   of the chunks Django reads.

Each endpoint's own, tighter check follows (the image and video limits of ``evaluations``).
Credentials are only *presented* at this point, not verified (that needs the database): a forged
cookie buys the signed-in limit and no more.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moodsaas.settings")

# Populate the app registry before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from moodsaas.routing import websocket_urlpatterns  # noqa: E402

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# After refusing a body, keep reading (and discarding) what the client still sends for this
# long before closing: closing with unread data makes the kernel reset the connection, and the
# client may then lose the 413 it has not read yet (what nginx calls a lingering close).
LINGER_SECONDS = 2.0


def body_limit(headers: Iterable[tuple[bytes, bytes]]) -> int:
    """The largest body a request with these headers may carry."""
    session_cookie = settings.SESSION_COOKIE_NAME.encode() + b"="
    for name, value in headers:
        name = name.lower()
        if name == b"authorization" and value.strip():
            return int(settings.REQUEST_MAX_BYTES)
        if name == b"cookie" and any(part.strip().startswith(session_cookie) for part in value.split(b";")):
            return int(settings.REQUEST_MAX_BYTES)
    return int(settings.ANONYMOUS_REQUEST_MAX_BYTES)


def too_large_body(limit: int) -> bytes:
    detail = f"The request body is larger than the {limit} bytes allowed for this request."
    return json.dumps({"detail": detail, "code": "request_too_large"}).encode()


def _declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimitMiddleware:
    """Refuse HTTP request bodies over :func:`body_limit` with 413, before the app reads them."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["headers"])
        declared = _declared_length(scope["headers"])
        if declared is not None and declared > limit:
            await self._refuse(send, limit)
            return
        seen = 0
        refused = started = False

        async def counted_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Django stops reading on a disconnect and answers nothing; we answer below.
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted_receive, watched_send)
        if refused and not started:
            await self._refuse(send, limit)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        body = too_large_body(limit)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _install_daphne_limit() -> None:
    """Make daphne build its requests from ``LimitedWebRequest`` (only when daphne serves us)."""
    from daphne import http_protocol
    from twisted.internet import reactor

    class LimitedWebRequest(http_protocol.WebRequest):
        """daphne's request, refusing a body over :func:`body_limit` while it arrives."""

        _body_limit = 0
        _body_seen = 0
        _refused = False

        def gotLength(self, length: int | None) -> None:
            raw = self.requestHeaders.getAllRawHeaders()
            self._body_limit = body_limit((name, value) for name, values in raw for value in values)
            if length is not None and length > self._body_limit:
                super().gotLength(0)  # a tiny buffer: nothing of the body will be kept
                self._refuse(length)
                return
            super().gotLength(length)

        def handleContentChunk(self, data: bytes) -> None:
            if self._refused:
                return
            self._body_seen += len(data)
            if self._body_seen > self._body_limit:
                self._refuse(None)
                return
            super().handleContentChunk(data)

        def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
            if self._refused:
                return  # never hand a refused request to the application
            # Twisted would parse a form body itself (for request.args, which daphne never reads) and
            # answer one it cannot parse, such as an empty multipart body, with a bare 400 of its own:
            # no body, no Content-Type. Django parses the body and answers in the API's shape.
            self._parsePOSTFormSubmission = False
            super().requestReceived(command, path, version)

        def _refuse(self, declared: int | None) -> None:
            self._refused = True
            channel = self.channel
            peer = channel.transport.getPeer() if channel.transport is not None else None
            log.warning(
                "refused a request body from %s: %s bytes, limit %s",
                getattr(peer, "host", "?"),
                declared if declared is not None else f"over {self._body_limit} (chunked)",
                self._body_limit,
            )
            self.requestHeaders.removeHeader(b"expect")  # no "100 Continue" after the answer
            body = too_large_body(self._body_limit)
            head = (
                b"HTTP/1.1 413 Content Too Large\r\n"
                b"Content-Type: application/json\r\n"
                b"Content-Length: %d\r\n"
                b"Connection: close\r\n\r\n" % len(body)
            )
            channel.persistent = False
            channel.transport.write(head + body)
            channel.transport.loseWriteConnection()
            clock: Any = reactor  # Twisted types its reactor module as a bare interface
            clock.callLater(LINGER_SECONDS, channel.transport.abortConnection)

    http_protocol.WebRequest = LimitedWebRequest


def _install_daphne_websocket_close() -> None:
    """Make daphne close an oversized websocket message with 1009, instead of dropping the connection.

    A message over daphne's ``--websocket_max_message_size`` (1 MiB) never reaches the consumer
    (which rejects frames over ``EVALUATIONS_MAX_FRAME_BYTES`` itself and keeps the socket).
    Autobahn then "fails" the connection, by default by cutting TCP: the client saw a dropped
    connection and no reason. With ``failByDrop`` off it sends the close frame first: code 1009
    (Message Too Big), as docs/websocket.md documents.
    """
    from daphne import server, ws_protocol

    class ClosingWebSocketFactory(ws_protocol.WebSocketFactory):
        def setProtocolOptions(self, **options: Any) -> None:
            super().setProtocolOptions(**options, failByDrop=False)

    server.WebSocketFactory = ClosingWebSocketFactory


if "daphne.server" in sys.modules:  # the daphne command imports its server before the application
    _install_daphne_limit()
    _install_daphne_websocket_close()

application = ProtocolTypeRouter(
    {
        "http": BodyLimitMiddleware(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns()))),
    }
)
