"""Notification tests: sessions fed with synthetic analysed frames through the worker's path.

``frames("fear", start=0, seconds=25)`` builds what the inference step hands to
``evaluations.recording.record_observations``: one clear, large face per frame whose dominant
emotion is the one asked for. ``feed(session, frames)`` records them exactly as a worker would.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

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
    return actions.start_session(
        actor=Actor(user=user, role=Role.AGENT),
        company=company,
        agent=user,
        channel=channel,
        notice_shown=channel == Channel.LIVE,
    )


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


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """Run ``fn``, then what it left for after the commit (the fan-out, the sending), like a worker would."""

    def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run


# --- Real HTTP receivers on loopback ------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: dict[str, bool]
    """For each secret the receiver knows: did the reference verifier (standardwebhooks) accept it?"""

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A webhook receiver on loopback (http.server in a thread) that verifies every request with the
    ``standardwebhooks`` package and answers as told: ``answers`` is consumed one per request
    ("ok", "fail", "slow", "redirect"), then ``mode`` applies."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.secrets: list[str] = []
        self.mode = "ok"
        self.answers: list[str] = []
        self.slow_seconds = 1.5
        self.redirect_to = "http://127.0.0.1:9/"
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = {}
                for secret in receiver.secrets:
                    try:
                        Webhook(secret).verify(body, headers)
                        verified[secret] = True
                    except WebhookVerificationError:
                        verified[secret] = False
                receiver.requests.append(Received(self.path, headers, body, verified))
                answer = receiver.answers.pop(0) if receiver.answers else receiver.mode
                if answer == "slow":
                    time.sleep(receiver.slow_seconds)
                if answer == "fail":
                    self._answer(500, b'{"error": "the receiver is broken"}')
                elif answer == "redirect":
                    self.send_response(302)
                    self.send_header("Location", receiver.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._answer(200, b"ok")

            def _answer(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (time-out tests)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/moodsaas?team=support"


@pytest.fixture
def receivers(settings: Any) -> Iterator[Callable[[], Receiver]]:
    """Start as many receivers as a test needs; loopback URLs are allowed for the test."""
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    started: list[Receiver] = []

    def start_one() -> Receiver:
        receiver = Receiver()
        receiver.thread.start()
        started.append(receiver)
        return receiver

    yield start_one
    for receiver in started:
        receiver.server.shutdown()
        receiver.server.server_close()


@pytest.fixture
def receiver(receivers: Callable[[], Receiver]) -> Receiver:
    return receivers()


@pytest.fixture
def needs_services() -> None:
    if not django_settings.REDIS_URL:
        pytest.skip("needs services mode: set DATABASE_URL and REDIS_URL (see docs/testing.md)")
