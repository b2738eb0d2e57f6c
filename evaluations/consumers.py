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
from datetime import UTC, datetime
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.conf import settings
from django.db import DatabaseError
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from redis.exceptions import RedisError
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.authentication import ApiTokenAuthentication
from accounts.mfa import mfa_setup_required
from accounts.models import Role
from accounts.realtime import access_group
from accounts.tenancy import Tenant, refresh_tenant, tenant_for_request
from evaluations import protocol, queue, recording
from evaluations.analysis import FrameInput
from evaluations.models import Channel, EvaluationSession, Status
from evaluations.protocol import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, CLOSE_TRY_AGAIN, CLOSE_UNAUTHENTICATED
from evaluations.realtime import FrameBatcher, InFlight, RateLimiter
from evaluations.selectors import visible_sessions
from evaluations.uploads import UploadError, parse_live_frame

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
SEEN_WINDOW = 4096
LOST_MARGIN_SECONDS = 5.0


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

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Channels' ``AsyncConsumer.__call__``, with a channel layer that may fail for a while.

        A Redis outage made ``channel_layer.receive`` raise, which ended the socket with 1011
        and skipped ``disconnect`` (so the frame counters it flushes were lost). Here the
        socket stays open: :meth:`_channel_receive` waits for the layer to come back and then
        joins the socket's groups again (a restarted Redis forgot them); :meth:`finish` runs
        however the socket ends.
        """
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.channel_receive = self._channel_receive
        self.base_send = send
        try:
            await await_many_dispatch([receive, self.channel_receive], self.dispatch)
        except StopConsumer:
            pass
        finally:
            await self.finish()

    async def _channel_receive(self) -> dict[str, Any]:
        delay = 0.25
        while True:
            try:
                return dict(await self.channel_layer.receive(self.channel_name))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("channel layer unavailable for socket %s; retrying", self.channel_name, exc_info=True)
            while True:  # wait for the layer, then rejoin: nothing reaches a socket outside its groups
                await asyncio.sleep(delay)
                delay = min(delay * 2, 4.0)
                try:
                    await self._rejoin()
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:  # still down: wait longer (the first failure was logged)  # noqa: S112
                    continue

    async def _rejoin(self) -> None:
        for group in (*self._joined, *((self._access_group,) if self._access_group else ())):
            await self.channel_layer.group_add(group, self.channel_name)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every message, a thread hop per
        # frame; our handlers reach the database only through database_sync_to_async, which
        # does the same check in its own thread.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def finish(self) -> None:
        """Run once the socket is over, however it ended (subclasses settle their books here)."""

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
    store_frames: bool  # the company keeps analysed frames (re-read with the access re-checks)


def _session_exists(tenant: Tenant, pk: int) -> bool:
    """Whether the session is still there at all (deleted: 4404; hidden from the role now: 4403)."""
    return EvaluationSession.objects.for_company(tenant.company).filter(pk=pk).exists()


def _find_session(tenant: Tenant, public_id: uuid.UUID) -> _Target | None:
    session = (
        visible_sessions(tenant.company, tenant.role, tenant.user)
        .filter(public_id=public_id)
        .only("pk", "public_id", "company_id", "channel", "status", "agent_id")
        .annotate(stores=F("company__store_frames"))
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
        store_frames=bool(session.stores),
    )


@dataclass(frozen=True)
class _Queued:
    """A live frame with the broker, awaiting its outcome."""

    message: str
    captured_at: float
    queued: float  # time.monotonic()


_OUTCOMES = frozenset({"frame.result", "frame.failed", "frame.dropped", "frame.rejected"})
_SETTLING: set[asyncio.Task[None]] = set()


def _lost_after() -> float:
    """Seconds after which a queued frame with no outcome can no longer get one from a worker.

    Workers shed frames older than ``EVALUATIONS_MAX_FRAME_AGE_MS`` before analysing them; the
    margin covers an analysis under way and a few database retries.
    """
    return settings.EVALUATIONS_MAX_FRAME_AGE_MS / 1000 + LOST_MARGIN_SECONDS


def _overdue(outstanding: dict[int, _Queued], now: float) -> dict[int, _Queued]:
    limit = _lost_after()
    return {sequence: queued for sequence, queued in outstanding.items() if now - queued.queued >= limit}


async def _settle(company_id: int, session_id: int, frames: dict[int, _Queued]) -> list[int] | None:
    """Settle overdue frames (``recording.settle_lost_frames``); the ones counted lost, None if the database is away."""
    inputs = [
        FrameInput(
            sequence=sequence,
            captured_at=datetime.fromtimestamp(queued.captured_at, tz=UTC),
            dropped="lost",
            message=queued.message,
        )
        for sequence, queued in sorted(frames.items())
    ]
    try:
        lost: list[int] = await database_sync_to_async(recording.settle_lost_frames)(
            company_id=company_id, session_id=session_id, frames=inputs
        )
    except DatabaseError:
        log.warning("could not settle %d overdue frames of session %s", len(inputs), session_id, exc_info=True)
        return None
    return lost


async def _settle_later(company_id: int, session_id: int, frames: dict[int, _Queued]) -> None:
    """Settle a closed socket's frames once they are overdue (retrying while the database is away)."""
    while frames:
        oldest = min(queued.queued for queued in frames.values())
        await asyncio.sleep(max(0.0, _lost_after() - (time.monotonic() - oldest)) + 0.05)
        overdue = _overdue(frames, time.monotonic())
        for attempt in range(10):
            if await _settle(company_id, session_id, overdue) is not None:
                break
            await asyncio.sleep(2**attempt)
        for sequence in overdue:
            frames.pop(sequence, None)


class SessionConsumer(GuardedConsumer):
    """One live session: receives frames, forwards results and status changes."""

    target: _Target | None = None

    async def connect(self) -> None:
        self.received = self.rejected = self.dropped = 0
        self.last_flush = time.monotonic()
        self.seen: set[int] = set()
        self.seen_order: deque[int] = deque()
        self.outstanding: dict[int, _Queued] = {}
        self.limiter = RateLimiter(settings.EVALUATIONS_LIVE_MAX_FPS)
        self.batcher = FrameBatcher.for_this_loop(queue.analyse_live_frames)
        tenant = await database_sync_to_async(tenant_for_scope)(self.scope)
        await self.accept()
        if tenant is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if await database_sync_to_async(mfa_setup_required)(tenant):  # as the pages and the API refuse them
            await self.close(code=CLOSE_FORBIDDEN)
            return
        target = await database_sync_to_async(_find_session)(tenant, self.scope["url_route"]["kwargs"]["session_id"])
        if target is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        try:
            await self.join(protocol.session_group(target.public_id))
            await self.guard(tenant)
        except RedisError:
            log.warning("channel layer unavailable; socket of session %s told to retry", target.public_id)
            await self.unguard()
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        self.target = target
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

    async def finish(self) -> None:
        """Settle the books however the socket ended: counters, and frames still awaiting an outcome."""
        if self.target is None:
            return
        with contextlib.suppress(Exception):
            await self.unguard()
        await self._flush()
        if self.outstanding:
            # Their results may still come (to no one): settle whatever did not once no worker may take them.
            task = asyncio.get_running_loop().create_task(
                _settle_later(self.target.company_id, self.target.pk, dict(self.outstanding))
            )
            _SETTLING.add(task)
            task.add_done_callback(_SETTLING.discard)
            self.outstanding.clear()

    async def still_allowed(self, tenant: Tenant) -> int | None:
        assert self.target is not None
        target = await database_sync_to_async(_find_session)(tenant, self.target.public_id)
        if target is None:
            gone = not await database_sync_to_async(_session_exists)(tenant, self.target.pk)
            return CLOSE_NOT_FOUND if gone else CLOSE_FORBIDDEN
        self.target.can_send = target.can_send
        self.target.store_frames = target.store_frames
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
        nonce = uuid.uuid4().hex[:12]  # this message's: tells a redelivered task from a re-sent frame
        slot = InFlight.slot(str(target.public_id), frame.sequence, nonce)
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
        job = queue.FrameJob(
            company_id=target.company_id,
            session_id=target.pk,
            sequence=frame.sequence,
            captured_at=captured_at,
            image=frame.jpeg,
            inflight_slot=slot,
            message=nonce,
            store=target.store_frames,
        )
        self.outstanding[frame.sequence] = _Queued(nonce, captured_at, time.monotonic())
        try:
            await self.batcher.submit(job)
        except Exception:
            log.exception("could not queue frame %s of session %s", frame.sequence, target.public_id)
            self.outstanding.pop(frame.sequence, None)
            with contextlib.suppress(RedisError):
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
        """Add this socket's counters to the session's books, then settle frames whose result is overdue.

        A database that cannot take them now keeps them here for the next flush.
        """
        assert self.target is not None
        received, rejected, dropped = self.received, self.rejected, self.dropped
        self.received = self.rejected = self.dropped = 0
        self.last_flush = time.monotonic()
        try:
            await database_sync_to_async(recording.count_live_frames)(
                company_id=self.target.company_id,
                session_id=self.target.pk,
                received=received,
                rejected=rejected,
                dropped=dropped,
            )
        except DatabaseError:
            log.warning("could not count the frames of session %s; keeping them", self.target.public_id, exc_info=True)
            self.received += received
            self.rejected += rejected
            self.dropped += dropped
            return
        overdue = _overdue(self.outstanding, time.monotonic())
        lost = await _settle(self.target.company_id, self.target.pk, overdue) if overdue else None
        if lost is not None:  # settled (None: the database is away, try again next flush)
            for sequence in overdue:
                self.outstanding.pop(sequence, None)
            for sequence in lost:
                await self._send(protocol.frame_dropped(sequence, "lost"))

    def _settled(self, payload: dict[str, Any]) -> None:
        if payload.get("type") in _OUTCOMES and payload.get("session") == str(
            self.target.public_id if self.target else ""
        ):
            self.outstanding.pop(payload.get("sequence"), None)  # type: ignore[arg-type]

    async def session_event(self, event: dict[str, Any]) -> None:
        if self.revoked:
            return
        payload = event["payload"]
        if payload.get("type") == "session.status" and self.target is not None:
            self.target.status = payload["status"]
        self._settled(payload)
        await self._send(payload)

    async def session_events(self, event: dict[str, Any]) -> None:
        """Several events of this session (a batch of frames): each is its own websocket message."""
        if self.revoked:
            return
        for payload in event["payloads"]:
            self._settled(payload)
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
        if await self.still_allowed(tenant) is not None or await database_sync_to_async(mfa_setup_required)(tenant):
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

    async def session_events(self, event: dict[str, Any]) -> None:
        if self.revoked:
            return
        for payload in event["payloads"]:
            await self.send(text_data=json.dumps(payload, separators=(",", ":")))
