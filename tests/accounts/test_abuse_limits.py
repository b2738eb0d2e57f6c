"""Abuse limits on the real Redis cache: failed sign-ins, the API's throttles and the schema's 429."""

from __future__ import annotations

import functools
import uuid
from typing import Any, cast

import pytest
import yaml
from django.test import Client
from rest_framework.test import APIClient

import moodsaas.settings as production
from accounts.models import User
from accounts.ratelimits import client_address
from tests.factories import PASSWORD

LOGIN = "/accounts/login/"
TOO_MANY = "Too many failed login attempts"

pytestmark = pytest.mark.usefixtures("needs_services")


@pytest.fixture(autouse=True)
def _own_counters(settings: Any) -> None:
    """Counters of this test only: a fresh key prefix in the shared Redis cache."""
    settings.CACHES = {"default": {**production.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}


def sign_in(address: str, email: str, password: str, **headers: Any) -> Any:
    return Client().post(LOGIN, {"login": email, "password": password}, REMOTE_ADDR=address, **headers)


# --- Sign-in ---------------------------------------------------------------------------------------


def test_an_attackers_wrong_passwords_do_not_lock_the_owner_out_but_limit_the_attackers_address(
    owner: User, settings: Any
) -> None:
    settings.ACCOUNT_RATE_LIMITS = production.ACCOUNT_RATE_LIMITS
    attacker, home = "203.0.113.7", "198.51.100.20"
    for _ in range(5):
        response = sign_in(attacker, owner.email, "not-the-password")
        assert response.status_code == 200 and TOO_MANY not in response.content.decode()
    assert TOO_MANY in sign_in(attacker, owner.email, "still-not-it").content.decode()
    # Even the right password is refused from the attacker's address for this account now...
    assert TOO_MANY in sign_in(attacker, owner.email, PASSWORD).content.decode()
    # ...but the owner, from their own address, signs in at once.
    response = sign_in(home, owner.email, PASSWORD)
    assert response.status_code == 302


def test_credential_stuffing_from_one_address_is_slowed_for_every_account(alice: User, settings: Any) -> None:
    settings.ACCOUNT_RATE_LIMITS = production.ACCOUNT_RATE_LIMITS
    stuffer = "203.0.113.66"
    for number in range(20):  # one attempt per account: the per-account limit never trips
        response = sign_in(stuffer, f"victim{number}@example.test", "password123")
        assert TOO_MANY not in response.content.decode()
    assert TOO_MANY in sign_in(stuffer, alice.email, PASSWORD).content.decode()
    assert sign_in("198.51.100.21", alice.email, PASSWORD).status_code == 302


def test_behind_a_trusted_proxy_the_client_is_the_address_the_proxy_saw(owner: User, settings: Any) -> None:
    settings.ACCOUNT_RATE_LIMITS = production.ACCOUNT_RATE_LIMITS
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    proxy = "172.18.0.5"
    # The attacker forges an X-Forwarded-For entry; the proxy appends the address it saw.
    attacker = {"HTTP_X_FORWARDED_FOR": "1.2.3.4, 203.0.113.8"}
    for _ in range(6):
        response = sign_in(proxy, owner.email, "wrong", **attacker)
    assert TOO_MANY in response.content.decode()
    assert sign_in(proxy, owner.email, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.22").status_code == 302

    from django.test import RequestFactory

    request = RequestFactory().get("/", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 2001:db8:1:2::7")
    assert client_address(request) == "2001:db8:1:2::"


# --- REST API throttles -------------------------------------------------------------------------------


def with_rates(settings: Any, **rates: str) -> None:
    settings.API_THROTTLING = True
    defaults = cast(dict[str, str], production.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])
    settings.REST_FRAMEWORK = {**production.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**defaults, **rates}}


def assert_throttled(response: Any) -> None:
    assert response.status_code == 429, response.content
    assert 1 <= int(response["Retry-After"]) <= 60
    body = response.json()
    assert body["code"] == "throttled" and body["detail"]


def test_each_api_token_has_its_own_limit(
    token_a_client: APIClient, read_token_a_client: APIClient, settings: Any
) -> None:
    with_rates(settings, token="3/min")
    assert [token_a_client.get("/api/v1/sessions/").status_code for _ in range(3)] == [200, 200, 200]
    assert_throttled(token_a_client.get("/api/v1/sessions/"))
    assert read_token_a_client.get("/api/v1/sessions/").status_code == 200


def test_each_person_has_their_own_limit(alice_client: APIClient, bob_client: APIClient, settings: Any) -> None:
    with_rates(settings, user="2/min")
    assert [alice_client.get("/api/v1/sessions/").status_code for _ in range(2)] == [200, 200]
    assert_throttled(alice_client.get("/api/v1/sessions/"))
    assert bob_client.get("/api/v1/sessions/").status_code == 200


def test_analyse_is_limited_per_caller_and_per_company(
    token_a_client: APIClient, alice_client: APIClient, token_b_client: APIClient, settings: Any
) -> None:
    with_rates(settings, analyse="2/min", analyse_company="3/min")
    # Refused requests count too (no image here): the limit protects the process, not the model.
    assert [token_a_client.post("/api/v1/analyse/", {}, format="multipart").status_code for _ in range(2)] == [
        400,
        400,
    ]
    assert_throttled(token_a_client.post("/api/v1/analyse/", {}, format="multipart"))
    assert alice_client.post("/api/v1/analyse/", {}, format="multipart").status_code == 400
    assert_throttled(alice_client.post("/api/v1/analyse/", {}, format="multipart"))  # the company's third
    assert token_b_client.post("/api/v1/analyse/", {}, format="multipart").status_code == 400
    # Other endpoints keep their own, larger limit.
    assert token_a_client.get("/api/v1/sessions/").status_code == 200


def test_throttles_are_off_when_switched_off(token_a_client: APIClient, settings: Any) -> None:
    with_rates(settings, token="1/min")
    settings.API_THROTTLING = False
    assert {token_a_client.get("/api/v1/sessions/").status_code for _ in range(3)} == {200}


def test_the_schema_documents_429_with_retry_after_on_every_operation(db: None) -> None:
    schema = yaml.safe_load(APIClient().get("/api/schema/").content)
    operations = [
        operation
        for item in schema["paths"].values()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(operations) > 20

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        """Follow a ``$ref`` (#/components/...): the 429 is one shared response."""
        while "$ref" in node:
            node = functools.reduce(lambda part, key: part[key], node["$ref"][2:].split("/"), schema)
        return node

    for operation in operations:
        throttled = resolve(operation["responses"]["429"])
        assert "Retry-After" in throttled["headers"]
        assert resolve(throttled["content"]["application/json"]["schema"])["required"] == ["detail", "code"]
