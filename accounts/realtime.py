"""Pushing to websockets from synchronous code, and the access groups of open sockets.

Two concerns, both here because ``accounts`` imports no other app while every app's sockets
must hear about access changes:

- ``push``: send a message to channel-layer groups from synchronous code (actions' on_commit
  hooks, in workers and request threads). ``evaluations`` and ``notifications`` use it too.
- Access groups: every authenticated socket joins the group of what authorised it, an API token
  (``token_group``) or a person in a company (``member_group``). Revoking the token, removing
  the member or changing their role sends ``access.changed`` there on commit; the consumers then
  re-check their authorisation against the database and close with 4401 or 4403. The message
  is only a trigger, never trusted as a verdict: a lost message costs at most the consumers'
  periodic re-check interval (``ACCOUNTS_SOCKET_RECHECK_SECONDS``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

if TYPE_CHECKING:
    from accounts.tenancy import Tenant

log = logging.getLogger(__name__)

ACCESS_HANDLER = "access.changed"
"""Channel-layer message type: Channels calls the consumers' ``access_changed`` method."""


def token_group(token_public_id: uuid.UUID | str) -> str:
    """Group of every socket opened with one API token (from its server-side public id)."""
    return f"accounts.token.{uuid.UUID(str(token_public_id)).hex}"


def member_group(company_public_id: uuid.UUID | str, user_id: int) -> str:
    """Group of every socket of one person acting in one company (server-side ids only)."""
    return f"accounts.member.{uuid.UUID(str(company_public_id)).hex}.{int(user_id)}"


def access_group(tenant: Tenant) -> str:
    """The access group a socket authorised as ``tenant`` joins: its token's, or its person's in its company."""
    if tenant.token is not None:
        return token_group(tenant.token.public_id)
    if tenant.user is None:
        raise ValueError("a tenant is authorised by a token or a person")
    return member_group(tenant.company.public_id, tenant.user.pk)


def access_changed(reason: str) -> dict[str, Any]:
    """The channel-layer message telling sockets to re-check their access (``reason`` is for logs)."""
    return {"type": ACCESS_HANDLER, "reason": reason}


def access_changed_on_commit(group: str, reason: str) -> None:
    """Tell the sockets of ``group`` to re-check their access once the transaction commits."""
    message = access_changed(reason)
    transaction.on_commit(lambda: push([group], message))


# --- push --------------------------------------------------------------------------------------

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
                threading.Thread(target=loop.run_forever, name="moodsaas-push", daemon=True).start()
                _loop = loop
    return _loop


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    future = asyncio.run_coroutine_threadsafe(coroutine, _background_loop())
    future.result(timeout=5)


async def _send_each(messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group, message in messages:
        await layer.group_send(group, message)


def push(groups: Iterable[str], message: dict[str, Any]) -> None:
    """Send ``message`` to every group in ``groups``; log, never raise (the data is already stored)."""
    push_each([(group, message) for group in groups])


def push_each(messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Send each (group, message) pair in one hop to the channel layer; log, never raise."""
    if not messages:
        return
    try:
        if _uses_redis_layer():
            _run(_send_each(messages))
        else:
            # The in-memory layer lives in this process's event loop (embedded mode, tests).
            async_to_sync(_send_each)(messages)
    except Exception:  # a push is best effort: the data is committed and readable through the API
        log.exception("could not push %s to %s", messages[0][1].get("type"), [group for group, _ in messages])
