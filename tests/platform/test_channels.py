"""The channel layer (Redis in services mode) and the websocket entry point."""

from __future__ import annotations

import uuid

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings


@pytest.fixture
def redis_layer():
    if not settings.REDIS_URL:
        import os

        if os.environ.get("CI"):
            pytest.fail("CI must run against Redis: set REDIS_URL (make test does)")
        pytest.skip("needs REDIS_URL (services mode)")
    layer = get_channel_layer()
    assert type(layer).__name__ == "RedisChannelLayer"
    return layer


async def test_a_message_round_trips_through_the_redis_channel_layer(redis_layer) -> None:
    channel = await redis_layer.new_channel()
    await redis_layer.send(channel, {"type": "test.message", "text": "hello"})
    assert await redis_layer.receive(channel) == {"type": "test.message", "text": "hello"}


async def test_a_group_message_reaches_every_member_through_redis(redis_layer) -> None:
    group = f"test-{uuid.uuid4().hex}"
    first, second = await redis_layer.new_channel(), await redis_layer.new_channel()
    await redis_layer.group_add(group, first)
    await redis_layer.group_add(group, second)
    await redis_layer.group_send(group, {"type": "grade.updated", "score": 3})
    assert (await redis_layer.receive(first))["score"] == 3
    assert (await redis_layer.receive(second))["score"] == 3
    await redis_layer.group_discard(group, first)
    await redis_layer.group_discard(group, second)


@pytest.mark.django_db  # Channels' denier closes stale database connections like any consumer
async def test_websockets_from_a_foreign_origin_are_refused() -> None:
    from moodsaas.asgi import application

    communicator = WebsocketCommunicator(application, "/ws/anything/", headers=[(b"origin", b"https://evil.example")])
    connected, _ = await communicator.connect()
    assert connected is False
    await communicator.disconnect()
