"""The live path end to end: frames recorded by the worker's code raise one alert that arrives by
e-mail (real SMTP server), webhook (real HTTP receiver, reference verifier) and websocket (the real
Redis channel layer), with committed transactions like production."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from accounts.models import Company, User
from tests.evaluations.test_realtime import (
    close_code,
    hello,
    signed_in,
)
from tests.notifications.conftest import feed, frames, start
from tests.notifications.test_webhooks import endpoint_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("needs_services", "close_thread_connections"),
]


async def test_a_visitor_is_refused_and_an_api_token_is_not_a_person(token_a: Any) -> None:
    assert await close_code("/ws/notifications/", [(b"origin", b"http://127.0.0.1")]) == 4401
    headers = [(b"origin", b"http://127.0.0.1"), (b"authorization", token_a.header.encode())]
    assert await close_code("/ws/notifications/", headers) == 4403


async def test_a_live_session_with_sustained_negative_frames_raises_exactly_one_alert_by_email_webhook_and_websocket(
    smtp: Any, receiver: Any, bob: User, alice: User, company_a: Company
) -> None:
    session = await sync_to_async(start)(bob, company_a)
    await sync_to_async(endpoint_for)(receiver, alice, company_a, ["alert.raised"])
    bob_socket, greeting = await hello("/ws/notifications/", await sync_to_async(signed_in)(bob))
    alice_socket, _ = await hello("/ws/notifications/", await sync_to_async(signed_in)(alice))
    assert greeting == {"type": "notifications.hello", "unread": 0}

    await sync_to_async(feed)(session, frames("happy", seconds=3))
    await sync_to_async(feed)(session, frames("angry", start=4, seconds=40, first=100))

    pushed = await bob_socket.receive_json_from(timeout=10)
    assert pushed["type"] == "notification.new" and pushed["unread"] == 1
    assert pushed["notification"]["reason"] == "sustained_negative"
    assert pushed["notification"]["session"] == str(session.public_id)
    assert await bob_socket.receive_nothing(timeout=1)
    assert await alice_socket.receive_nothing(timeout=0.5)  # an admin who did not opt in

    (message,) = smtp.messages
    assert message["To"] == "bob@a.test"
    assert message["Subject"] == "[MoodSaaS] Alert: a customer is upset in a session that is still running"
    (request,) = receiver.requests
    assert request.verified == {receiver.secrets[0]: True}
    episode = request.json["data"]["episode"]
    assert (episode["start_seconds"], episode["end_seconds"]) == (4.0, 24.0)
    assert request.json["data"]["session"]["status"] == "open"

    await bob_socket.disconnect()
    await alice_socket.disconnect()
