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
"""

from __future__ import annotations

from django.dispatch import Signal

session_finished = Signal()
negative_episode = Signal()
