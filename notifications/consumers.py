"""``/ws/notifications/``: a signed-in person's alerts in their active company, live.

Authentication is the Django session (API tokens act for a company, not a person: 4403).
The first message is ``notifications.hello`` with the unread count; ``notifications.protocol``
lists the others. Text sent by the client is answered with an ``error``. Like the evaluation
sockets, it closes with 4401 once the person is removed from the company or signs out
(``evaluations.consumers.GuardedConsumer``).
"""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async

from evaluations.consumers import GuardedConsumer, tenant_for_scope
from evaluations.protocol import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, error
from notifications import protocol, selectors


class NotificationConsumer(GuardedConsumer):
    async def connect(self) -> None:
        tenant = await database_sync_to_async(tenant_for_scope)(self.scope)
        await self.accept()
        if tenant is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if tenant.user is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.join(protocol.user_group(tenant.company.public_id, tenant.user.pk))
        await self.guard(tenant)
        count = await database_sync_to_async(selectors.unread_count)(tenant.company.pk, tenant.user.pk)
        await self._send(protocol.hello(count))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.revoked:
            return
        await self._send(error("read_only", "This socket only pushes alerts; mark them read in the portal."))

    async def notifications_event(self, event: dict[str, Any]) -> None:
        if self.revoked:
            return
        await self._send(event["payload"])

    async def _send(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, separators=(",", ":")))
