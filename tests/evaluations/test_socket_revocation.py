"""Open websockets obey revocation: a revoked token, a removed member or a demoted admin loses
them at once (the action's ``access.changed`` on the real Redis channel layer), and a periodic
re-check closes them even when that message is lost.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from accounts import actions as account_actions
from accounts.models import Actor, ApiToken, Company, Membership, Role, User
from evaluations import actions
from evaluations.models import EvaluationSession, Observation
from tests.evaluations.test_realtime import (
    ORIGIN,
    Headers,
    fetch,
    frame,
    hello,
    path_of,
    signed_in,
    until,
)
from tests.factories import IssuedToken

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("needs_services", "close_thread_connections"),
]


async def closed_with(communicator: WebsocketCommunicator, timeout: float = 10) -> int:
    """Skip text messages up to the socket's close; return its code."""
    async with asyncio.timeout(timeout):
        while True:
            message = await communicator.receive_output(timeout=timeout)
            if message["type"] == "websocket.close":
                return int(message["code"])


@pytest.fixture
def bob_headers(bob: User) -> Headers:
    return signed_in(bob)


@pytest.fixture
def alice_headers(alice: User) -> Headers:
    return signed_in(alice)


def token_headers(issued: IssuedToken) -> Headers:
    return [ORIGIN, (b"authorization", issued.header.encode())]


@sync_to_async
def membership_of(user: User, company: Company) -> Membership:
    return Membership.objects.for_company(company).select_related("company", "user").get(user=user)


@sync_to_async
def observations(session: EvaluationSession) -> int:
    return Observation.objects.for_company(session.company).filter(session=session).count()


async def test_revoking_a_token_closes_its_sockets_and_a_frame_sent_after_is_not_recorded(
    alice: User, bob_session: EvaluationSession, token_a: IssuedToken, face_jpeg: bytes, emotion_model: Path
) -> None:
    streamer, greeting = await hello(path_of(bob_session), token_headers(token_a))
    assert greeting["can_send_frames"] is True
    dashboard, _ = await hello("/ws/dashboard/", token_headers(token_a))

    await sync_to_async(account_actions.revoke_api_token)(actor=Actor(user=alice, role=Role.ADMIN), token=token_a.token)
    assert await closed_with(streamer) == 4401
    assert await closed_with(dashboard) == 4401

    # Frames are analysed in-process here (eager tasks, a real model): one that got through would show.
    await streamer.send_to(bytes_data=frame(1, face_jpeg))
    assert await streamer.receive_nothing(timeout=1)
    await streamer.disconnect()
    await dashboard.disconnect()
    session = await fetch(bob_session)
    assert (session.frames_received, session.frames_processed) == (0, 0)
    assert await observations(session) == 0


async def test_removing_bob_closes_his_session_socket(
    owner: User, bob: User, company_a: Company, bob_session: EvaluationSession, bob_headers: Headers
) -> None:
    agent, _ = await hello(path_of(bob_session), bob_headers)
    membership = await membership_of(bob, company_a)
    await sync_to_async(account_actions.remove_member)(actor=Actor(user=owner, role=Role.OWNER), membership=membership)
    assert await closed_with(agent) == 4401
    await agent.disconnect()


async def test_demoting_alice_closes_her_dashboard_and_she_receives_no_more_company_events(
    owner: User,
    alice: User,
    bob: User,
    company_a: Company,
    bob_session: EvaluationSession,
    alice_headers: Headers,
) -> None:
    dashboard, _ = await hello("/ws/dashboard/", alice_headers)
    watching, _ = await hello(path_of(bob_session), alice_headers)  # an admin may watch bob's session
    membership = await membership_of(alice, company_a)
    await sync_to_async(account_actions.change_member_role)(
        actor=Actor(user=owner, role=Role.OWNER), membership=membership, role=Role.AGENT
    )
    assert await closed_with(dashboard) == 4403
    assert await closed_with(watching) == 4403

    await sync_to_async(actions.pause_session)(actor=Actor(user=bob, role=Role.AGENT), session=bob_session)
    assert await dashboard.receive_nothing(timeout=1.5)
    assert await watching.receive_nothing(timeout=0.5)
    await dashboard.disconnect()
    await watching.disconnect()


async def test_promoting_bob_keeps_his_socket_and_a_colleagues_change_leaves_it_alone(
    owner: User,
    alice: User,
    bob: User,
    company_a: Company,
    bob_session: EvaluationSession,
    bob_headers: Headers,
) -> None:
    agent, _ = await hello(path_of(bob_session), bob_headers)
    owner_actor = Actor(user=owner, role=Role.OWNER)
    await sync_to_async(account_actions.change_member_role)(
        actor=owner_actor, membership=await membership_of(bob, company_a), role=Role.ADMIN
    )
    await sync_to_async(account_actions.change_member_role)(
        actor=owner_actor, membership=await membership_of(alice, company_a), role=Role.AGENT
    )
    await sync_to_async(actions.pause_session)(actor=Actor(user=bob, role=Role.ADMIN), session=bob_session)
    status = await until(agent, lambda m: m["type"] == "session.status", timeout=10)
    assert status[-1]["status"] == "paused"
    await agent.disconnect()


async def test_a_lost_message_is_made_up_for_by_the_periodic_recheck(
    bob_session: EvaluationSession, token_a: IssuedToken, settings: Any
) -> None:
    settings.ACCOUNTS_SOCKET_RECHECK_SECONDS = 1
    streamer, _ = await hello(path_of(bob_session), token_headers(token_a))
    # Revoked behind the actions' back: no access.changed message is ever sent.
    await sync_to_async(ApiToken.unscoped_objects.filter(pk=token_a.token.pk).update)(revoked_at=timezone.now())
    assert await closed_with(streamer, timeout=5) == 4401
    await streamer.disconnect()


async def test_signing_out_ends_the_browsers_sockets_at_the_next_recheck(
    bob_session: EvaluationSession, bob_headers: Headers, alice_headers: Headers, settings: Any
) -> None:
    from django.contrib.sessions.models import Session

    settings.ACCOUNTS_SOCKET_RECHECK_SECONDS = 1
    agent, _ = await hello(path_of(bob_session), bob_headers)
    dashboard, _ = await hello("/ws/dashboard/", alice_headers)
    bobs_key = dict(bob_headers)[b"cookie"].decode().split("=", 1)[1]
    await sync_to_async(Session.objects.filter(session_key=bobs_key).delete)()  # what logging out does
    assert await closed_with(agent, timeout=5) == 4401
    assert await dashboard.receive_nothing(timeout=1.5)  # alice is still signed in
    await agent.disconnect()
    await dashboard.disconnect()


async def test_removing_bob_closes_his_alerts_socket(
    owner: User, bob: User, company_a: Company, bob_headers: Headers
) -> None:
    alerts, greeting = await hello("/ws/notifications/", bob_headers)
    assert greeting["type"] == "notifications.hello"
    membership = await membership_of(bob, company_a)
    await sync_to_async(account_actions.remove_member)(actor=Actor(user=owner, role=Role.OWNER), membership=membership)
    assert await closed_with(alerts) == 4401
    await alerts.disconnect()
