"""Realtime plumbing of live frames: the bound on frames in flight, the per-socket rate, the batches.

(Sending to channel-layer groups from synchronous code is ``accounts.realtime.push``.)
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.conf import settings

if TYPE_CHECKING:
    from evaluations.queue import FrameJob

__all__ = ["FrameBatcher", "InFlight", "RateLimiter"]

log = logging.getLogger(__name__)


class InFlight:
    """Bound the frames queued for inference: per session, and in total across all sessions.

    Each queued frame holds a *slot*: a member of two Redis sorted sets (its session's and the
    global one) scored by the time it was taken. Acquiring is one Lua call that first forgets
    slots older than ``TTL_SECONDS`` (a crashed worker's frames stop counting on their own),
    then refuses when either bound is reached. The worker releases the slot when the frame is
    stored, failed or dropped. The global bound keeps the broker queue short, so an admitted
    frame waits at most about ``total limit / worker throughput`` seconds; beyond that frames are
    dropped at the door, which costs the workers nothing.

    Without Redis (embedded mode, tasks run in-process) process-local sets do the same job.
    """

    TTL_SECONDS = 30
    TOTAL_KEY = "evaluations:inflight:total"
    _local: dict[str, dict[str, float]] = {}
    _local_lock = threading.Lock()

    @staticmethod
    def key(session_public_id: str) -> str:
        return f"evaluations:inflight:{session_public_id}"

    @staticmethod
    def slot(session_public_id: str, sequence: int, nonce: str) -> str:
        """A slot name: the session's public id, the frame number and the message nonce (numbers may repeat)."""
        return f"{session_public_id}/{sequence}/{nonce}"

    @classmethod
    async def acquire(cls, slot: str, limit: int, total_limit: int) -> bool:
        """Take ``slot``; False when the session has ``limit`` or everyone ``total_limit`` frames queued."""
        session_key = cls.key(slot.split("/", 1)[0])
        now = time.time()
        if not settings.REDIS_URL:
            with cls._local_lock:
                mine = cls._fresh(session_key, now)
                everyone = cls._fresh(cls.TOTAL_KEY, now)
                if len(mine) >= limit or len(everyone) >= total_limit:
                    return False
                mine[slot] = everyone[slot] = now
                return True
        client = _async_redis()
        taken = await client.eval(
            _ACQUIRE_SCRIPT, 2, session_key, cls.TOTAL_KEY, now, cls.TTL_SECONDS, slot, limit, total_limit
        )
        return bool(taken)

    @classmethod
    def _fresh(cls, key: str, now: float) -> dict[str, float]:
        slots = cls._local.setdefault(key, {})
        for stale in [name for name, taken in slots.items() if taken < now - cls.TTL_SECONDS]:
            del slots[stale]
        return slots

    @classmethod
    def release(cls, slot: str) -> None:
        """Give ``slot`` back (the worker, once the frame is stored, failed or dropped)."""
        session_key = cls.key(slot.split("/", 1)[0])
        if not settings.REDIS_URL:
            with cls._local_lock:
                cls._local.get(session_key, {}).pop(slot, None)
                cls._local.get(cls.TOTAL_KEY, {}).pop(slot, None)
            return
        pipe = _sync_redis().pipeline(transaction=False)
        pipe.zrem(session_key, slot)
        pipe.zrem(cls.TOTAL_KEY, slot)
        pipe.execute()

    @classmethod
    def release_many(cls, slots: list[str]) -> None:
        """:meth:`release` a worker's batch in one round trip; never raises (an unreleased slot expires)."""
        if not slots:
            return
        if not settings.REDIS_URL:
            for slot in slots:
                cls.release(slot)
            return
        try:
            pipe = _sync_redis().pipeline(transaction=False)
            for slot in slots:
                pipe.zrem(cls.key(slot.split("/", 1)[0]), slot)
            pipe.zrem(cls.TOTAL_KEY, *slots)
            pipe.execute()
        except Exception:  # Redis down: the slots stop counting after TTL_SECONDS on their own
            log.warning("could not release %d in-flight slots", len(slots), exc_info=True)

    @classmethod
    async def arelease(cls, slot: str) -> None:
        """:meth:`release` from async code (the consumer, when queueing failed)."""
        if not settings.REDIS_URL:
            cls.release(slot)
            return
        client = _async_redis()
        await client.zrem(cls.key(slot.split("/", 1)[0]), slot)
        await client.zrem(cls.TOTAL_KEY, slot)


# KEYS: session set, total set. ARGV: now, ttl, slot, session limit, total limit.
_ACQUIRE_SCRIPT = """
local oldest = tonumber(ARGV[1]) - tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', oldest)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', oldest)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""

_sync_client: Any = None
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def _sync_redis() -> Any:
    global _sync_client
    if _sync_client is None:
        import redis

        _sync_client = redis.Redis.from_url(str(settings.REDIS_URL))
    return _sync_client


def _async_redis() -> Any:
    # One client per event loop: redis.asyncio connections belong to the loop that opened them.
    import redis.asyncio

    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = _async_clients[loop] = redis.asyncio.Redis.from_url(str(settings.REDIS_URL))
    return client


class RateLimiter:
    """Token bucket per connection: ``rate`` frames per second with a burst of one second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.updated = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class FrameBatcher:
    """Queue the live frames of all of a process's sockets in batches: one task for several frames.

    A frame waits at most ``window`` seconds (or until ``size`` frames are waiting) and is then
    published with the others in one broker message. The worker decodes each frame, classifies
    all their faces in one model call, records each session's frames in one transaction and
    pushes each session's events in one channel-layer message, so the per-frame cost of Celery,
    the model call, the commit and the push is shared. :meth:`submit` returns once the batch
    is with the broker, or raises what publishing raised (the consumer then drops the frame).

    One batcher per event loop (daphne runs one; tests run several).
    """

    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FrameBatcher] = weakref.WeakKeyDictionary()

    def __init__(self, publish: Callable[[Sequence[FrameJob]], None], window: float, size: int) -> None:
        self.publish = publish
        self.window = window
        self.size = size
        self.pending: list[tuple[FrameJob, asyncio.Future[None]]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.sending: set[asyncio.Task[None]] = set()

    @classmethod
    def for_this_loop(cls, publish: Callable[[Sequence[FrameJob]], None]) -> FrameBatcher:
        loop = asyncio.get_running_loop()
        batcher = cls._by_loop.get(loop)
        if batcher is None:
            batcher = cls._by_loop[loop] = cls(
                publish, settings.EVALUATIONS_BATCH_WINDOW_MS / 1000, settings.EVALUATIONS_BATCH_MAX_FRAMES
            )
        return batcher

    async def submit(self, job: FrameJob) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Whoever awaits may be gone (its socket closed): retrieve the outcome so nothing is logged twice.
        done.add_done_callback(lambda future: future.cancelled() or future.exception())
        self.pending.append((job, done))
        if len(self.pending) >= self.size or self.window <= 0:
            self._send_now()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(self.window, self._send_now)
        await asyncio.shield(done)  # a socket closing meanwhile must not cancel the others' batch

    def _send_now(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        batch, self.pending = self.pending, []
        if batch:
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self.sending.add(task)  # keep a reference until it is done
            task.add_done_callback(self.sending.discard)

    async def _send(self, batch: list[tuple[FrameJob, asyncio.Future[None]]]) -> None:
        try:
            # Publishing is blocking I/O: off the event loop, in any thread.
            await sync_to_async(self.publish, thread_sensitive=False)([job for job, _ in batch])
        except Exception as exc:
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
        else:
            for _, done in batch:
                if not done.done():
                    done.set_result(None)
