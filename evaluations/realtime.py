"""Realtime plumbing: pushing to channel-layer groups from sync code, and frames in flight.

Two concerns that both sit between the websocket consumer and the Celery worker:

- ``push``: send a message to channel-layer groups from synchronous code (actions' on_commit
  hooks in workers and request threads).
- ``InFlight``: the per-session bound on frames queued for inference.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Coroutine, Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

log = logging.getLogger(__name__)

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _uses_redis_layer() -> bool:
    backend = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    return "channels_redis" in str(backend)


def _background_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process in a daemon thread, so the Redis layer keeps its connections.

    ``async_to_sync`` outside an event loop runs each call in a fresh loop, and channels-redis
    keys its connection pool by loop: every push would open (and leak) new Redis connections.
    """
    global _loop
    if _loop is None:
        with _loop_lock:
            if _loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="evaluations-push", daemon=True).start()
                _loop = loop
    return _loop


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    future = asyncio.run_coroutine_threadsafe(coroutine, _background_loop())
    future.result(timeout=5)


async def _send_all(groups: Iterable[str], message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group in groups:
        await layer.group_send(group, message)


def push(groups: Iterable[str], message: dict[str, Any]) -> None:
    """Send ``message`` to every group in ``groups``; log, never raise (results are already stored)."""
    groups = list(groups)
    try:
        if _uses_redis_layer():
            _run(_send_all(groups, message))
        else:
            # The in-memory layer lives in this process's event loop (embedded mode, tests).
            async_to_sync(_send_all)(groups, message)
    except Exception:  # a push is best effort: the data is committed and readable through the API
        log.exception("could not push %s to %s", message.get("type"), groups)


class InFlight:
    """Count frames of one session queued for inference; refuse new ones above the bound.

    With Redis, the counter is a key per session shared by every web process and worker
    (``INCR``/``DECR``), with a TTL so a crashed worker's frames stop counting after a while.
    Without Redis (embedded mode, tasks run in-process) a process-local dict does the same job.
    """

    TTL_SECONDS = 30
    _local: dict[str, int] = {}
    _local_lock = threading.Lock()

    @staticmethod
    def key(session_public_id: str) -> str:
        return f"evaluations:inflight:{session_public_id}"

    @classmethod
    async def acquire(cls, session_public_id: str, limit: int) -> bool:
        """Take a slot for one frame; False when ``limit`` frames are already in flight."""
        if not settings.REDIS_URL:
            with cls._local_lock:
                current = cls._local.get(session_public_id, 0)
                if current >= limit:
                    return False
                cls._local[session_public_id] = current + 1
                return True
        client = _async_redis()
        key = cls.key(session_public_id)
        async with client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, cls.TTL_SECONDS)
            count, _ = await pipe.execute()
        if count > limit:
            await client.decr(key)
            return False
        return True

    @classmethod
    def release(cls, session_public_id: str) -> None:
        """Give a slot back (the worker, once the frame is stored or failed)."""
        if not settings.REDIS_URL:
            with cls._local_lock:
                cls._local[session_public_id] = max(0, cls._local.get(session_public_id, 0) - 1)
            return
        client = _sync_redis()
        # Never below zero: the key may have expired and restarted while this frame was queued.
        client.eval(_RELEASE_SCRIPT, 1, cls.key(session_public_id))

    @classmethod
    def current(cls, session_public_id: str) -> int:
        if not settings.REDIS_URL:
            return cls._local.get(session_public_id, 0)
        value = _sync_redis().get(cls.key(session_public_id))
        return int(value or 0)


_RELEASE_SCRIPT = """
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v > 0 then return redis.call('DECR', KEYS[1]) end
return 0
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
