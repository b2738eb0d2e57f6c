"""Realtime plumbing of live frames: the bound on frames in flight and the per-socket rate.

(Sending to channel-layer groups from synchronous code is ``accounts.realtime.push``.)
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
import weakref
from typing import Any

from django.conf import settings

__all__ = ["InFlight", "RateLimiter"]


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
    def slot(session_public_id: str, sequence: int) -> str:
        """A slot name: the session's public id, the frame number and a nonce (numbers may repeat)."""
        return f"{session_public_id}/{sequence}/{uuid.uuid4().hex[:8]}"

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
