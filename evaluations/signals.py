"""What evaluations tells other apps, without importing them.

Apps above evaluations (``notifications``) connect receivers in their ``AppConfig.ready``;
evaluations sends these from inside the action's transaction, so a receiver that writes (an
outbox row) commits or rolls back with the change it reports. Receivers must be quick and must
not send anything to the outside world before the transaction commits.

- ``session_finished``: ``finish_session`` froze a session's grade.
  Keyword arguments: ``session`` (the locked, finished ``EvaluationSession``).
- ``negative_episode``: while a session was still running, the customer's primary face showed
  a negative emotion long enough (``evaluations.episodes``). Sent once per episode.
  Keyword arguments: ``session``, ``episode`` (an ``evaluations.episodes.Episode``).

- ``sessions_deleted``: sessions were deleted on request (``evaluations.privacy``: one session, or
  every session of a customer reference); whatever another app keeps about them must go too.
  Keyword arguments: ``company``, ``session_public_ids`` (strings), ``customer_reference`` (the
  erased reference, or empty when one session was deleted). Never muted.

``muted()`` silences the first two for a block that records history which already happened (the demo
seed backfills a month of sessions; its listeners must not report them as news today). Listeners
report news; none keeps derived data, which a muted block would leave stale.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.dispatch import Signal

_muted: ContextVar[bool] = ContextVar("evaluations_signals_muted", default=False)


class MutableSignal(Signal):
    """A signal that sends nothing inside :func:`muted`."""

    def send(self, sender: Any, **named: Any) -> list[tuple[Any, Any]]:
        if _muted.get():
            return []
        return super().send(sender, **named)


@contextmanager
def muted() -> Iterator[None]:
    """Send none of these signals inside the block (in this thread or task only)."""
    token = _muted.set(True)
    try:
        yield
    finally:
        _muted.reset(token)


session_finished = MutableSignal()
negative_episode = MutableSignal()
sessions_deleted = Signal()
