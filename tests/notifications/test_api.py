"""The webhook endpoints API under /api/v1/webhook-endpoints/ (admins and owners)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import Actor, Company, Role, User
from notifications import actions
from notifications.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.notifications.conftest import Receiver

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhook-endpoints/"
WEBHOOK_MODELS = (WebhookEndpoint, WebhookDelivery, WebhookAttempt, Event)


@pytest.fixture
def endpoint(alice: User, company_a: Company, settings: Any) -> WebhookEndpoint:
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    created, _ = actions.create_endpoint(
        actor=Actor(user=alice, role=Role.ADMIN),
        company=company_a,
        url="http://127.0.0.1:9/hook",
        events=["alert.raised"],
        description="CRM",
    )
    return created


def test_an_admin_registers_an_endpoint_and_sees_its_secret_once(alice_client: APIClient, settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    response = alice_client.post(
        URL, {"url": "http://127.0.0.1:9/hook", "events": ["alert.raised", "digest"], "description": "CRM"}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["alert.raised", "digest"]
    assert body["enabled"] is True
    listed = alice_client.get(URL).json()["results"]
    assert [e["id"] for e in listed] == [body["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in alice_client.get(f"{URL}{body['id']}/").json()


def test_an_endpoint_on_a_private_address_is_refused_and_nothing_is_written(
    alice_client: APIClient, nothing_written: Any
) -> None:
    with nothing_written(*WEBHOOK_MODELS):
        response = alice_client.post(URL, {"url": "https://192.168.0.10/hook", "events": ["alert.raised"]})
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "The host 192.168.0.10 resolves to 192.168.0.10, which is not a public internet address."
    )


def test_unknown_event_types_are_refused(alice_client: APIClient, nothing_written: Any, settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    with nothing_written(*WEBHOOK_MODELS):
        response = alice_client.post(URL, {"url": "http://127.0.0.1:9/", "events": ["webhook.disabled"]})
    assert response.status_code == 400


def test_an_admin_changes_switches_off_and_deletes_an_endpoint(
    alice_client: APIClient, endpoint: WebhookEndpoint, company_a: Company
) -> None:
    detail = f"{URL}{endpoint.public_id}/"
    response = alice_client.patch(detail, {"events": ["session.finished"], "enabled": False})
    assert response.status_code == 200, response.json()
    assert response.json()["events"] == ["session.finished"]
    assert response.json()["enabled"] is False
    assert response.json()["description"] == "CRM"
    assert alice_client.delete(detail).status_code == 204
    assert not WebhookEndpoint.objects.for_company(company_a).exists()


def test_rotating_returns_the_new_secret_and_the_grace_period(
    alice_client: APIClient, endpoint: WebhookEndpoint
) -> None:
    response = alice_client.post(f"{URL}{endpoint.public_id}/rotate-secret/")
    assert response.status_code == 200
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["secret"] != endpoint.secret
    assert body["previous_secret_expires_at"] is not None


def test_a_test_event_is_accepted_and_its_delivery_is_in_the_log(
    alice_client: APIClient,
    receiver: Receiver,
    alice: User,
    company_a: Company,
    django_capture_on_commit_callbacks: Any,
) -> None:
    created, secret = actions.create_endpoint(
        actor=Actor(user=alice, role=Role.ADMIN), company=company_a, url=receiver.url, events=["alert.raised"]
    )
    receiver.secrets = [secret]
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(f"{URL}{created.public_id}/test/")
    assert response.status_code == 202
    assert response.json()["event"]["type"] == "webhook.test"
    assert receiver.requests[0].verified == {secret: True}
    (logged,) = alice_client.get(f"{URL}{created.public_id}/deliveries/").json()["results"]
    assert logged["status"] == "succeeded"
    assert logged["id"] == receiver.requests[0].headers["webhook-id"]
    assert [(a["number"], a["status_code"], a["succeeded"]) for a in logged["log"]] == [(1, 200, True)]


def test_the_delivery_log_costs_the_same_queries_however_long_it_is(
    alice_client: APIClient, endpoint: WebhookEndpoint, alice: User
) -> None:
    def add_deliveries(n: int) -> None:
        for _ in range(n):
            delivery = actions.send_test_event(actor=Actor(user=alice, role=Role.ADMIN), endpoint=endpoint)
            WebhookAttempt.objects.create(
                company=endpoint.company, delivery=delivery, number=1, started_at=delivery.created_at,
                duration_ms=5, status_code=500, succeeded=False,
            )  # fmt: skip

    add_deliveries(1)
    alice_client.get(URL)  # the first request of a session stores the active company in it
    with CaptureQueriesContext(connection) as few:
        assert len(alice_client.get(f"{URL}{endpoint.public_id}/deliveries/").json()["results"]) == 1
    add_deliveries(5)
    with CaptureQueriesContext(connection) as many:
        assert len(alice_client.get(f"{URL}{endpoint.public_id}/deliveries/").json()["results"]) == 6
    assert len(many) == len(few) <= 10


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("post", ""), ("get", "{id}/"), ("patch", "{id}/"), ("delete", "{id}/"),
     ("post", "{id}/rotate-secret/"), ("post", "{id}/test/"), ("get", "{id}/deliveries/")],
)  # fmt: skip
def test_an_agent_and_a_read_only_token_are_refused(
    method: str, suffix: str, bob_client: APIClient, read_token_a_client: APIClient, endpoint: WebhookEndpoint,
    nothing_written: Any,
) -> None:  # fmt: skip
    path = URL + suffix.format(id=endpoint.public_id)
    with nothing_written(*WEBHOOK_MODELS):
        for client in (bob_client, read_token_a_client):
            response = getattr(client, method)(path, {"events": ["digest"]})
            assert response.status_code == 403, (client, response.content)


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", "{id}/"), ("patch", "{id}/"), ("delete", "{id}/"), ("post", "{id}/rotate-secret/"),
     ("post", "{id}/test/"), ("get", "{id}/deliveries/")],
)  # fmt: skip
def test_another_companys_endpoint_is_a_404_and_nothing_is_written(
    method: str, suffix: str, charlie_client: APIClient, token_b_client: APIClient, endpoint: WebhookEndpoint,
    nothing_written: Any,
) -> None:  # fmt: skip
    path = URL + suffix.format(id=endpoint.public_id)
    with nothing_written(*WEBHOOK_MODELS):
        for client in (charlie_client, token_b_client):
            response = getattr(client, method)(path, {"enabled": False})
            assert response.status_code == 404
    assert charlie_client.get(URL).json()["results"] == []


def test_a_read_write_token_manages_endpoints(token_a_client: APIClient, settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    response = token_a_client.post(URL, {"url": "http://127.0.0.1:9/", "events": ["session.finished"]})
    assert response.status_code == 201


def test_the_endpoints_are_in_the_openapi_schema(tmp_path: Any) -> None:
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out), stdout=StringIO())
    text = out.read_text()
    for path in (
        "/api/v1/webhook-endpoints/:",
        "/api/v1/webhook-endpoints/{id}/:",
        "/api/v1/webhook-endpoints/{id}/rotate-secret/:",
        "/api/v1/webhook-endpoints/{id}/test/:",
        "/api/v1/webhook-endpoints/{id}/deliveries/:",
    ):
        assert path in text
