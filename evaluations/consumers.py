"""Websockets of evaluation sessions: the live frame stream and the company dashboard.

``/ws/sessions/<session id>/``: binary messages are frames (see ``evaluations.uploads`` for the
wire format); the server sends JSON text messages (docs/websocket.md lists them).
``/ws/dashboard/``: admins, owners and API tokens receive every session event of their company.

Authentication: the Django session cookie (browsers), or ``Authorization: Bearer mood_...`` on
the handshake (API clients). Like every Channels socket behind ``AllowedHostsOriginValidator``,
the handshake needs an ``Origin`` header naming an allowed host. Failures close the socket with
4401 (not authenticated), 4403 (role) or 4404 (no such session in your company, including
another company's session).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from redis.exceptions import RedisError
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.authentication import ApiTokenAuthentication
from accounts.models import Role
from accounts.tenancy import Tenant, tenant_for_request
from evaluations import protocol, queue, recording
from evaluations.models import Channel, Status
from evaluations.protocol import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED
from evaluations.realtime import InFlight, RateLimiter
from evaluations.selectors import visible_sessions
from evaluations.uploads import UploadError, parse_live_frame

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
SEEN_WINDOW = 4096


def tenant_for_scope(scope: dict[str, Any]) -> Tenant | None:
    """Resolve the tenant of a websocket handshake with the same code as an HTTP request.

    A throwaway ``HttpRequest`` carries the handshake's Authorization header, user and session,
    so API tokens and the session's active company are resolved by ``accounts`` exactly as for
    the REST API.
    """
    request = HttpRequest()
    headers = dict(scope.get("headers", []))
    authorization = headers.get(b"authorization")
    if authorization:
        request.META["HTTP_AUTHORIZATION"] = authorization.decode("latin-1")
        try:
            authenticated = ApiTokenAuthentication().authenticate(Request(request))
        except AuthenticationFailed:
            return None
        if authenticated is not None:
            request.user, request.auth = authenticated  # type: ignore[attr-defined]
            return tenant_for_request(request)
    user = scope.get("user")
    if user is None or not user.is_authenticated or "session" not in scope:
        return None
    request.user = user
    request.session = scope["session"]
    return tenant_for_request(request)


@dataclass
class _Target:
    pk: int
    public_id: uuid.UUID
    company_id: int
    channel: str
    status: str
    can_send: bool


def _find_session(tenant: Tenant, public_id: uuid.UUID) -> _Target | None:
    session = (
        visible_sessions(tenant.company, tenant.role, tenant.user)
        .filter(public_id=public_id)
        .only("pk", "public_id", "company_id", "channel", "status", "agent_id")
        .first()
    )
    if session is None:
        return None
    runs = tenant.role.at_least(Role.ADMIN) or (tenant.user is not None and tenant.user.pk == session.agent_id)
    writable = tenant.token is None or not tenant.token.read_only
    return _Target(
        pk=session.pk,
        public_id=session.public_id,
        company_id=session.company_id,
        channel=session.channel,
        status=session.status,
        can_send=runs and writable,
    )


class SessionConsumer(AsyncWebsocketConsumer):
    """One live session: receives frames, forwards results and status changes."""

    target: _Target | None = None

    async def connect(self) -> None:
        self.received = self.rejected = self.dropped = 0
        self.last_flush = time.monotonic()
        self.seen: set[int] = set()
        self.seen_order: deque[int] = deque()
        self.limiter = RateLimiter(settings.EVALUATIONS_LIVE_MAX_FPS)
        tenant = await database_sync_to_async(tenant_for_scope)(self.scope)
        await self.accept()
        if tenant is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.target = await database_sync_to_async(_find_session)(
            tenant, self.scope["url_route"]["kwargs"]["session_id"]
        )
        if self.target is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = protocol.session_group(self.target.public_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self._send(
            protocol.session_hello(
                session_public_id=self.target.public_id,
                status=self.target.status,
                channel=self.target.channel,
                can_send_frames=self.target.can_send,
                limits={
                    "max_frame_bytes": settings.EVALUATIONS_MAX_FRAME_BYTES,
                    "max_fps": settings.EVALUATIONS_LIVE_MAX_FPS,
                    "max_in_flight": settings.EVALUATIONS_MAX_IN_FLIGHT,
                    "max_frame_age_ms": settings.EVALUATIONS_MAX_FRAME_AGE_MS,
                },
            )
        )

    async def disconnect(self, code: int) -> None:
        if self.target is None:
            return
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await self._flush()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.target is None:
            return
        if bytes_data is None:
            await self._command(text_data or "")
            return
        self.received += 1
        await self._frame(self.target, bytes_data)
        if time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            await self._flush()

    async def _frame(self, target: _Target, message: bytes) -> None:
        """Validate one frame and queue it, or say why not (steps in the order they are cheap)."""
        captured_at = timezone.now().timestamp()
        try:
            frame = parse_live_frame(message, settings.EVALUATIONS_MAX_FRAME_BYTES)
        except UploadError as exc:
            await self._reject(None, exc.code, exc.message)
            return
        if not target.can_send:
            await self._reject(frame.sequence, "forbidden", "Only the session's agent or an admin can send frames.")
            return
        if target.channel != Channel.LIVE:
            await self._reject(frame.sequence, "channel", f"This is a {target.channel} session, not a live one.")
            return
        if target.status != Status.OPEN:
            await self._reject(frame.sequence, "not_open", f"The session is {target.status}; frames are not recorded.")
            return
        if frame.sequence in self.seen:
            await self._reject(frame.sequence, "duplicate", f"Frame {frame.sequence} was already received.")
            return
        self._remember(frame.sequence)
        if not self.limiter.allow():
            await self._drop(frame.sequence, "rate")
            return
        slot = InFlight.slot(str(target.public_id), frame.sequence)
        try:
            taken = await InFlight.acquire(
                slot, settings.EVALUATIONS_MAX_IN_FLIGHT, settings.EVALUATIONS_MAX_IN_FLIGHT_TOTAL
            )
        except RedisError:
            # A Redis hiccup costs this frame, not the whole socket.
            log.exception("in-flight bound unavailable for session %s", target.public_id)
            await self._drop(frame.sequence, "queue_unavailable")
            return
        if not taken:
            await self._drop(frame.sequence, "busy")
            return
        try:
            # Publishing to the broker is blocking I/O: keep it off the event loop, in any thread.
            job = queue.FrameJob(
                company_id=target.company_id,
                session_id=target.pk,
                sequence=frame.sequence,
                captured_at=captured_at,
                image=frame.jpeg,
                inflight_slot=slot,
            )
            await sync_to_async(queue.analyse_frame, thread_sensitive=False)(job)
        except Exception:
            log.exception("could not queue frame %s of session %s", frame.sequence, target.public_id)
            await InFlight.arelease(slot)
            await self._drop(frame.sequence, "queue_unavailable")

    def _remember(self, sequence: int) -> None:
        self.seen.add(sequence)
        self.seen_order.append(sequence)
        if len(self.seen_order) > SEEN_WINDOW:
            self.seen.discard(self.seen_order.popleft())

    async def _reject(self, sequence: int | None, code: str, detail: str) -> None:
        self.rejected += 1
        await self._send(protocol.frame_rejected(sequence, code, detail))

    async def _drop(self, sequence: int, reason: str) -> None:
        self.dropped += 1
        await self._send(protocol.frame_dropped(sequence, reason))

    async def _command(self, text: str) -> None:
        try:
            command = json.loads(text)
        except ValueError:
            command = None
        if isinstance(command, dict) and command.get("type") == "ping":
            await self._send(protocol.pong(timezone.now()))
            return
        await self._send(
            protocol.error(
                "unknown_command",
                'Text messages may only be {"type": "ping"}; send frames as binary messages and '
                "control the session through the REST API.",
            )
        )

    async def _flush(self) -> None:
        assert self.target is not None
        received, rejected, dropped = self.received, self.rejected, self.dropped
        self.received = self.rejected = self.dropped = 0
        self.last_flush = time.monotonic()
        await database_sync_to_async(recording.count_live_frames)(
            company_id=self.target.company_id,
            session_id=self.target.pk,
            received=received,
            rejected=rejected,
            dropped=dropped,
        )

    async def session_event(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        if payload.get("type") == "session.status" and self.target is not None:
            self.target.status = payload["status"]
        await self._send(payload)

    async def _send(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, separators=(",", ":")))


class DashboardConsumer(AsyncWebsocketConsumer):
    """Every session event of the caller's company (admins, owners and API tokens)."""

    group: str | None = None

    async def connect(self) -> None:
        tenant = await database_sync_to_async(tenant_for_scope)(self.scope)
        await self.accept()
        if tenant is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if tenant.token is None and not tenant.role.at_least(Role.ADMIN):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = protocol.company_group(tenant.company.public_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send(text_data=json.dumps(protocol.dashboard_hello(tenant.company.public_id)))

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=json.dumps(protocol.error("read_only", "The dashboard is read-only.")))

    async def session_event(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(event["payload"], separators=(",", ":")))
