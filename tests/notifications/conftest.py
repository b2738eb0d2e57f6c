"""Notification tests: sessions fed with synthetic analysed frames through the worker's path.

``frames("fear", start=0, seconds=25)`` builds what the inference step hands to
``evaluations.recording.record_observations``: one clear, large face per frame whose dominant
emotion is the one asked for. ``feed(session, frames)`` records them exactly as a worker would.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Actor, Company, Role, User
from evaluations import actions, episodes, recording
from evaluations.analysis import FrameInput
from evaluations.grading import EMOTIONS
from evaluations.models import Channel, EvaluationSession
from inference.results import Face, Quality
from notifications.models import CompanySettings, Event
from tests.frontend.conftest import page_client


def face(emotion: str, *, score: float = 0.95, quality: Quality | None = None) -> Face:
    probabilities = [0.02] * len(EMOTIONS)
    probabilities[EMOTIONS.index(emotion)] = 0.88
    return Face(box=(40, 40, 160, 160), score=score, probabilities=tuple(probabilities), quality=quality or Quality())


def frames(
    emotion: str, *, start: float = 0.0, seconds: float = 10.0, fps: float = 2.0, first: int = 0, **face_args: Any
) -> list[FrameInput]:
    """Frames from ``start`` for ``seconds`` (inclusive) at ``fps``, sequence numbers from ``first``."""
    count = round(seconds * fps) + 1
    now = timezone.now()
    return [
        FrameInput(
            sequence=first + i,
            captured_at=now + timedelta(seconds=start + i / fps),
            faces=(face(emotion, **face_args),),
            model_version="synthetic",
            offset_seconds=start + i / fps,
        )
        for i in range(count)
    ]


def feed(session: EvaluationSession, batch: Sequence[FrameInput]) -> None:
    """Record ``batch`` as the worker does (one frame per call, like live frames)."""
    for frame in batch:
        recording.record_observations(company_id=session.company_id, session_id=session.pk, frames=[frame])


def start(user: User, company: Company, channel: str = Channel.LIVE) -> EvaluationSession:
    return actions.start_session(actor=Actor(user=user, role=Role.AGENT), company=company, agent=user, channel=channel)


def finish(session: EvaluationSession) -> EvaluationSession:
    return actions.finish_session(actor=actions.SYSTEM, session=session)


def events(company: Company, type: str | None = None) -> list[Event]:
    found = Event.objects.for_company(company).order_by("created_at", "id")
    return list(found.filter(type=type) if type else found)


@pytest.fixture(autouse=True)
def _fresh_thresholds() -> Iterator[None]:
    """The per-process threshold cache must not carry a company setting from one test to the next."""
    episodes.forget_threshold()
    yield
    episodes.forget_threshold()


@pytest.fixture
def bob_session(bob: User, company_a: Company) -> EvaluationSession:
    return start(bob, company_a)


def set_threshold(company: Company, seconds: int) -> None:
    CompanySettings.objects.for_company(company).update_or_create(
        company=company, defaults={"negative_alert_seconds": seconds}
    )
    episodes.forget_threshold(company.pk)


# --- A real SMTP server on loopback ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    """An aiosmtpd handler keeping every message it receives, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        parsed = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp(settings: Any) -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) on a free loopback port; Django's SMTP backend points at it."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.SITE_URL = "https://moodsaas.example"
    yield inbox
    controller.stop()


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML bodies of a received message."""
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


# --- Signed-in page clients -------------------------------------------------------------------------


@pytest.fixture
def alice_page(alice: User) -> Client:
    return page_client(alice)


@pytest.fixture
def bob_page(bob: User) -> Client:
    return page_client(bob)


@pytest.fixture
def owner_page(owner: User) -> Client:
    return page_client(owner)


@pytest.fixture
def charlie_page(charlie: User) -> Client:
    return page_client(charlie)
