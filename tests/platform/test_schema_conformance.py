"""The API matches its OpenAPI schema: schemathesis runs every operation of ``/api/schema/``.

The engine of ``schemathesis run``, with every check, against a real daphne on the fixture world's
database, as a client meets the API (Twisted's HTTP parsing, the body limits, Django, DRF): the
fuzzing phase, positive and negative cases (wrong types, missing and out-of-range values, schema
violations of every kind) on each operation, then stateful sequences that follow the links
between operations (create, read, change, delete). A bounded number of cases, so it stays fast;
the full run, coverage phase included, is the CLI command in docs/testing.md.

Two callers: company A's read-write API token, and company A's owner signed in with a browser
session (staff too, so the model registry's operations answer). Path ids, member ids and customer
references are drawn, most of the time, from objects of the world (``dictionaries``), so the
operations do their work instead of answering 404. The only failures let through are the rules
a schema cannot state, each named in tests/platform/schemathesis_hooks.py.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.test import Client
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.engine import events, from_schema

from accounts import actions as account_actions
from accounts.models import Actor, Company, Membership, Role, User
from evaluations import actions as session_actions
from evaluations import frames
from evaluations.models import Channel, StoredFrame
from notifications import actions as notification_actions
from tests.browser import Daphne, server_env
from tests.factories import IssuedToken
from tests.platform import schemathesis_hooks  # noqa: F401  (registers the failure filter)

# daphne reads the world through its own database connection: it must be committed.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("needs_services")]

CSRF = "schemathesis0csrf0token000000000"  # 32 letters and digits: Django's CSRF cookie and header
MAX_EXAMPLES = 6  # fuzzed cases per operation
STATEFUL_STEPS = 6  # calls per stateful sequence
KNOWN = 0.7  # how often a path id (or member id, customer reference) is one of the world's
FRAME = "/api/v1/sessions/{id}/frames/{frame_id}/"


@pytest.fixture
def api(emotion_model: Path, tmp_path: Path) -> Iterator[Daphne]:
    """daphne on the test database, as in production (DEBUG off) but for its throttles' rates."""
    env = {
        **server_env(emotion_model, tmp_path),
        "DEBUG": "false",
        # Thousands of requests a minute from one caller: counted, but let through.
        "API_TOKEN_RATE_PER_MINUTE": "1000000",
        "API_USER_RATE_PER_MINUTE": "1000000",
    }
    with Daphne(env, tmp_path) as daphne:
        yield daphne


@pytest.fixture
def world(
    company_a: Company,
    owner: User,
    alice: User,
    bob: User,
    token_a: IssuedToken,
    face_jpeg: bytes,
    tmp_path: Path,
    settings: Any,
) -> dict[str, list[str]]:
    """Objects of company A for the run to find by id, besides those it creates itself."""
    admin = Actor(user=alice, role=Role.ADMIN)
    company_a.store_frames = True  # so that a session has a stored frame to serve
    company_a.save(update_fields=["store_frames"])
    settings.MEDIA_ROOT = tmp_path / "var" / "media"  # where the api fixture's daphne reads media
    sessions = {
        channel: session_actions.start_session(
            actor=admin, company=company_a, agent=bob, channel=channel, customer_reference="CUST-7"
        )
        for channel in (Channel.API, Channel.IMAGES, Channel.VIDEO)
    }
    finished = session_actions.start_session(actor=admin, company=company_a, agent=bob, channel=Channel.API)
    session_actions.finish_session(actor=admin, session=finished)
    invitation, _ = account_actions.invite_member(
        actor=admin, company=company_a, email="dana@a.test", role=Role.AGENT, base_url="http://testserver/"
    )
    settings.WEBHOOKS_ALLOW_LOOPBACK = True  # this process only: the endpoint is never called here
    endpoint, _ = notification_actions.create_endpoint(
        actor=admin, company=company_a, url="http://127.0.0.1:9/hook", events=["session.finished"]
    )
    # Its own session, which no other operation is pointed at (it could delete it first).
    framed = session_actions.start_session(actor=admin, company=company_a, agent=bob, channel=Channel.IMAGES)
    assert frames.store_analysed_frames(company_a.pk, framed.pk, [(1, face_jpeg)]) == 1
    frame = StoredFrame.objects.for_company(company_a).get(session=framed)
    members = [str(m.public_id) for m in Membership.objects.for_company(company_a).exclude(user=owner)]
    return {
        "sessions": [str(s.public_id) for s in (*sessions.values(), finished)],
        "framed-sessions": [str(framed.public_id)],
        "frames": [str(frame.public_id)],
        "members": members,
        "invitations": [str(invitation.public_id)],
        "tokens": [str(token_a.token.public_id)],
        "webhook-endpoints": [str(endpoint.public_id)],
        "references": ["CUST-7"],
        "versions": ["tiny-eval"],
    }


def _config(auth: dict[str, Any], world: dict[str, list[str]]) -> SchemathesisConfig:
    def known(dictionary: str) -> dict[str, Any]:
        return {"dictionary": dictionary, "probability": KNOWN}

    def ids(collection: str, parameter: str = "path.id") -> dict[str, Any]:
        return {
            "include-path-regex": f"^/api/v1/{collection}/{{",
            "exclude-path": FRAME,
            "parameters": {parameter: known(collection)},
        }

    return SchemathesisConfig.from_dict(
        {
            "seed": 20261202,
            "workers": 1,
            "checks": {"enabled": True},
            "generation": {"max-examples": MAX_EXAMPLES},
            # The coverage phase's deterministic cases number in the thousands: the CLI run has them.
            "phases": {"coverage": {"enabled": False}, "stateful": {"max-steps": STATEFUL_STEPS}},
            "auth": {"openapi": auth},
            "dictionaries": {name: {"values": values} for name, values in world.items()},
            "operations": [
                *(ids(name) for name in ("sessions", "members", "invitations", "tokens", "webhook-endpoints")),
                {
                    "include-path": "/api/v1/models/{version}/activate/",
                    "parameters": {"path.version": known("versions")},
                },
                {
                    "include-path": FRAME,
                    "parameters": {"path.id": known("framed-sessions"), "path.frame_id": known("frames")},
                },
                {"include-path": "/api/v1/sessions/", "parameters": {"body.agent": known("members")}},
                {
                    "include-path": "/api/v1/customers/erase/",
                    "parameters": {"body.customer_reference": known("references")},
                },
            ],
        }
    )


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any) -> None:
    """A session run's requests carry Django's CSRF cookie and header (neither is a credential)."""
    if "cookieAuth" in case.operation.schema.config.auth.openapi.schemes:
        case.headers = {**(case.headers or {}), "X-CSRFToken": CSRF}
        case.cookies = {**(case.cookies or {}), "csrftoken": CSRF}


class Run:
    """What a schemathesis run found: failures and errors, and the statuses each operation answered."""

    def __init__(self, api: Daphne, config: SchemathesisConfig) -> None:
        schema = schemathesis.openapi.from_url(f"{api.base}/api/schema/", config=config)
        results = list(schema.get_all_operations())
        operations = [result.ok() for result in results if isinstance(result, Ok)]
        assert len(operations) == len(results), [result for result in results if not isinstance(result, Ok)]
        # Operation label -> the security schemes that let a caller in.
        self.security = {
            op.label: {name for requirement in op.definition.raw.get("security", []) for name in requirement}
            for op in operations
        }
        self.problems, self.statuses = _execute(schema, operations)

    def assert_conforms(self, *, scheme: str, unreached: frozenset[str] = frozenset()) -> None:
        """No failure; every operation answered; those ``scheme`` lets in did their own work at least once.

        Doing its own work: an answer other than 401, 403 or 404, so the request got past
        authentication, permissions and the lookup of its object, to validation, state rules or success.
        """
        assert not self.problems, "\n\n".join(self.problems)
        assert set(self.statuses) >= set(self.security), f"never called: {set(self.security) - set(self.statuses)}"
        idle = {
            label
            for label, schemes in self.security.items()
            if scheme in schemes and not set(self.statuses.get(label, {})) - {401, 403, 404}
        }
        assert idle == unreached, {label: dict(self.statuses.get(label, {})) for label in idle ^ unreached}


def _execute(schema: Any, operations: list[Any]) -> tuple[list[str], dict[str, Counter[int]]]:
    templates = [(op.method.upper(), op.path.strip("/").split("/"), op.label) for op in operations]
    problems: list[str] = []
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    for event in from_schema(schema).execute():
        if isinstance(event, (events.NonFatalError, events.FatalError)):
            problems.append(f"error: {event.info.format() if hasattr(event, 'info') else event}")
        recorder = getattr(event, "recorder", None)
        if recorder is None:
            continue
        for interaction in recorder.interactions.values():
            if interaction.response is not None:
                label = _label(templates, interaction.request.method, interaction.request.uri)
                statuses[label][interaction.response.status_code] += 1
        for case_id, checks in recorder.checks.items():
            interaction = recorder.interactions.get(case_id)
            for check in checks:
                if check.failure_info is not None:
                    failure = check.failure_info.failure
                    request = f"{interaction.request.method} {interaction.request.uri}" if interaction else "?"
                    answer = interaction.response.status_code if interaction and interaction.response else "-"
                    problems.append(
                        f"{failure.code} {failure.title} ({check.name}): {request} -> {answer}\n{failure.message}"
                    )
    return problems, statuses


def _label(templates: list[tuple[str, list[str], str]], method: str, uri: str) -> str:
    """The label (``GET /api/v1/sessions/{id}/``) of the operation a request went to."""
    parts = uri.split("://", 1)[-1].split("?", 1)[0].split("/", 1)[-1].strip("/").split("/")
    for template_method, template, label in templates:
        if (
            template_method == method.upper()
            and len(template) == len(parts)
            and all(t.startswith("{") or t == p for t, p in zip(template, parts, strict=True))
        ):
            return label
    return f"{method} {uri}"


def test_every_operation_answers_a_read_write_api_token_as_the_schema_says(
    api: Daphne, world: dict[str, list[str]], token_a: IssuedToken
) -> None:
    run = Run(api, _config({"apiToken": {"bearer": token_a.secret}}, world))
    run.assert_conforms(scheme="apiToken")


def test_every_operation_answers_a_signed_in_owner_as_the_schema_says(
    api: Daphne, world: dict[str, list[str]], owner: User
) -> None:
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    # Two-factor authentication set up, as a company that requires it of owners (PATCH company/ may
    # turn the requirement on) makes them do: their session stays usable.
    TOTP.activate(owner, generate_totp_secret())
    browser = Client()
    browser.force_login(owner)
    run = Run(api, _config({"cookieAuth": {"api_key": browser.cookies["sessionid"].value}}, world))
    run.assert_conforms(scheme="cookieAuth")


def test_an_empty_multipart_body_gets_the_apis_json_400_from_daphne(api: Daphne, token_a: IssuedToken) -> None:
    # Twisted parsed form bodies itself and answered this one with a bare 400: no body, no Content-Type.
    request = urllib.request.Request(
        f"{api.base}/api/v1/analyse/",
        data=b"--0123456789abcdef--\r\n",
        method="POST",
        headers={"Authorization": token_a.header, "Content-Type": "multipart/form-data; boundary=0123456789abcdef"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert refused.value.headers["Content-Type"] == "application/json"
    assert json.loads(refused.value.read()) == {"image": ["No file was submitted."]}
