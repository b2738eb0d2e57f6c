"""Websockets of evaluation sessions: the live frame stream and the company dashboard.

``/ws/sessions/<session id>/``: binary messages are frames (see ``evaluations.uploads`` for the
wire format); the server sends JSON text messages (docs/websocket.md lists them).
``/ws/dashboard/``: admins, owners and API tokens receive every session event of their company.

Authentication: the Django session cookie (browsers), or ``Authorization: Bearer mood_...`` on
the handshake (API clients). Like every Channels socket behind ``AllowedHostsOriginValidator``,
the handshake needs an ``Origin`` header naming an allowed host. Failures close the socket with
4401 (not authenticated), 4403 (role) or 4404 (no such session in your company, including
another company's session).

Authorisation holds for the whole life of a socket (``GuardedConsumer``): revoking the token,
removing the member or changing their role closes their open sockets at once (4401 when the
credential is gone, 4403 when the role no longer allows the socket), and every socket re-checks
on its own every ``ACCOUNTS_SOCKET_RECHECK_SECONDS`` in case that message was lost. Signing out
(or a password change) ends a browser's sockets at that re-check.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from accounts.realtime import access_group
from accounts.tenancy import Tenant, refresh_tenant, tenant_for_request
from evaluations import protocol, queue, recording
from evaluations.models import Channel, EvaluationSession, Status
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


class GuardedConsumer(AsyncWebsocketConsumer):
    """A socket whose authorisation is checked for its whole life, not only at the handshake.

    After the handshake a subclass calls :meth:`guard` with its tenant. From then on:

    1. The socket is in the tenant's access group (``accounts.realtime``): an action that
       revokes the token, removes the member or changes their role sends ``access.changed``
       there on commit, and the socket re-checks at once.
    2. A watcher re-checks every ``ACCOUNTS_SOCKET_RECHECK_SECONDS`` anyway, the backstop for a
       message lost in a channel-layer outage (and what notices a browser signing out).
    3. A re-check reads the token or membership (and the browser's session) again. Gone: close
       with 4401. Still there: :meth:`still_allowed` (per subclass) may answer 4403 or 4404.
       Either way :meth:`revoke` leaves every group first, so nothing more is delivered, and
       ``self.revoked`` makes the handlers ignore whatever the client still sends.
    """

    tenant: Tenant | None = None
    revoked: bool = False
    _access_group: str | None = None
    _watcher: asyncio.Task[None] | None = None
    _joined: tuple[str, ...] = ()

    async def join(self, group: str) -> None:
        """Join a channel-layer group that :meth:`unguard` leaves (on disconnect or revocation)."""
        await self.channel_layer.group_add(group, self.channel_name)
        self._joined = (*self._joined, group)

    async def guard(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self._access_group = access_group(tenant)
        await self.channel_layer.group_add(self._access_group, self.channel_name)
        self._watcher = asyncio.create_task(self._watch())

    async def unguard(self) -> None:
        """Stop watching and leave every group this socket joined."""
        for group in self._joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self._joined = ()
        if self._watcher is not None and self._watcher is not asyncio.current_task():
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        self._watcher = None
        if self._access_group is not None:
            await self.channel_layer.group_discard(self._access_group, self.channel_name)
            self._access_group = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(settings.ACCOUNTS_SOCKET_RECHECK_SECONDS)
            try:
                await self.recheck()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database or Redis hiccup: keep the socket, try again next time
                log.exception("could not re-check the access of socket %s", self.channel_name)

    async def access_changed(self, event: dict[str, Any]) -> None:
        """Channel-layer handler of ``access.changed``: a trigger, the database is the verdict."""
        await self.recheck()

    async def recheck(self) -> None:
        if self.tenant is None or self.revoked:
            return
        session = self.scope.get("session") if self.tenant.token is None else None
        session_key = getattr(session, "session_key", None) if session is not None else None
        if self.tenant.token is None and session_key is None:
            fresh = None  # a browser socket whose session is gone
        else:
            fresh = await database_sync_to_async(refresh_tenant)(self.tenant, session_key)
        code = CLOSE_UNAUTHENTICATED if fresh is None else await self.still_allowed(fresh)
        if self.revoked:  # another re-check got there first
            return
        if code is None:
            self.tenant = fresh
            return
        self.revoked = True
        log.info("closing socket %s: access re-checked, close code %s", self.channel_name, code)
        await self.revoke(code)

    async def still_allowed(self, tenant: Tenant) -> int | None:
        """Return a close code if ``tenant`` (as it is now) may no longer use this socket."""
        return None

    async def revoke(self, code: int) -> None:
        """Leave every group, then close with ``code``."""
        await self.unguard()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        await self.unguard()


@dataclass
class _Target:
    pk: int
    public_id: uuid.UUID
    company_id: int
    channel: str
    status: str
    can_send: bool


def _session_exists(tenant: Tenant, pk: int) -> bool:
    """Whether the session is still there at all (deleted: 4404; hidden from the role now: 4403)."""
    return EvaluationSession.objects.for_company(tenant.company).filter(pk=pk).exists()


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


class SessionConsumer(GuardedConsumer):
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
        await self.join(protocol.session_group(self.target.public_id))
        await self.guard(tenant)
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
        if self.target is None or self.revoked:  # a revoked socket already left and flushed
            return
        await self.unguard()
        await self._flush()

    async def still_allowed(self, tenant: Tenant) -> int | None:
        assert self.target is not None
        target = await database_sync_to_async(_find_session)(tenant, self.target.public_id)
        if target is None:
            gone = not await database_sync_to_async(_session_exists)(tenant, self.target.pk)
            return CLOSE_NOT_FOUND if gone else CLOSE_FORBIDDEN
        self.target.can_send = target.can_send
        return None

    async def revoke(self, code: int) -> None:
        assert self.target is not None
        await self.unguard()  # no more frames or events for this socket before its counters flush
        await self._flush()
        await super().revoke(code)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.target is None or self.revoked:
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
        if self.revoked:
            return
        payload = event["payload"]
        if payload.get("type") == "session.status" and self.target is not None:
            self.target.status = payload["status"]
        await self._send(payload)

    async def _send(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, separators=(",", ":")))


class DashboardConsumer(GuardedConsumer):
    """Every session event of the caller's company (admins, owners and API tokens)."""

    async def connect(self) -> None:
        tenant = await database_sync_to_async(tenant_for_scope)(self.scope)
        await self.accept()
        if tenant is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if await self.still_allowed(tenant) is not None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.join(protocol.company_group(tenant.company.public_id))
        await self.guard(tenant)
        await self.send(text_data=json.dumps(protocol.dashboard_hello(tenant.company.public_id)))

    async def still_allowed(self, tenant: Tenant) -> int | None:
        if tenant.token is None and not tenant.role.at_least(Role.ADMIN):
            return CLOSE_FORBIDDEN
        return None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.revoked:
            return
        await self.send(text_data=json.dumps(protocol.error("read_only", "The dashboard is read-only.")))

    async def session_event(self, event: dict[str, Any]) -> None:
        if self.revoked:
            return
        await self.send(text_data=json.dumps(event["payload"], separators=(",", ":")))
