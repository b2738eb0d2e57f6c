"""Every API error has the shape the schema documents (accounts.exceptions, accounts.schema).

``{"detail", "code"}`` for everything but field validation errors, which stay
``{"field": ["message"]}``; query strings are read as the schema states them; JSON bodies keep
their JSON types. schemathesis checks the same across all operations
(tests/platform/test_schema_conformance.py); these pin each rule down on one endpoint.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import Membership, Role, User
from tests.factories import IssuedToken

pytestmark = pytest.mark.django_db

SESSIONS = "/api/v1/sessions/"


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail", "code"} and body["code"] == code, body
    return str(body["detail"])


def test_drf_s_own_404_405_415_and_parse_errors_carry_a_code(token_a_client: APIClient) -> None:
    _error(token_a_client.get(f"{SESSIONS}{uuid.uuid4()}/"), 404, "not_found")
    _error(token_a_client.put(SESSIONS, {}, format="json"), 405, "method_not_allowed")
    _error(
        token_a_client.post(SESSIONS, "channel=api", content_type="application/x-www-form-urlencoded"),
        415,
        "unsupported_media_type",
    )
    _error(token_a_client.post(SESSIONS, "{not json", content_type="application/json"), 400, "parse_error")


def test_a_path_the_api_does_not_serve_is_a_json_404_even_for_a_cookie_carrying_delete(
    alice: User, nothing_written: Any
) -> None:
    browser = APIClient(enforce_csrf_checks=True)  # a browser's session without its CSRF token
    browser.force_login(alice)
    with nothing_written():
        _error(browser.delete("/api/v1/sessions/not.an.id/"), 404, "not_found")
        _error(browser.get("/api/v1/no-such-thing/"), 404, "not_found")


def test_authentication_and_permission_refusals_say_which(
    anon_client: APIClient, read_token_a_client: APIClient, token_a_client: APIClient, bob_client: APIClient
) -> None:
    _error(anon_client.get(SESSIONS), 401, "not_authenticated")
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer mood_" + "x" * 43)
    _error(bad.get(SESSIONS), 401, "authentication_failed")
    _error(read_token_a_client.post(SESSIONS, {"channel": "api"}, format="json"), 403, "read_only_token")
    _error(token_a_client.get("/api/v1/tokens/"), 403, "token_not_allowed")
    _error(bob_client.get("/api/v1/invitations/"), 403, "role")


def test_a_filter_given_empty_or_twice_is_refused_instead_of_ignored(alice_client: APIClient) -> None:
    empty = alice_client.get(SESSIONS, {"status": ""})
    assert empty.status_code == 400 and list(empty.json()) == ["status"]
    twice = alice_client.get(f"{SESSIONS}?status=open&status=finished")
    assert twice.status_code == 400 and list(twice.json()) == ["status"]
    period = alice_client.get("/api/v1/results/summary/", {"period": ""})
    assert period.status_code == 400 and list(period.json()) == ["period"]


def test_an_unknown_query_parameter_is_refused_so_a_misspelt_filter_does_not_return_everything(
    alice_client: APIClient,
) -> None:
    detail = _error(alice_client.get(SESSIONS, {"stauts": "open"}), 400, "unknown_parameter")
    assert "stauts" in detail
    _error(alice_client.get("/api/v1/members/", {"role": "agent"}), 400, "unknown_parameter")
    _error(alice_client.get("/api/v1/results/agents/", {"page": "1"}), 400, "unknown_parameter")
    assert alice_client.get(SESSIONS, {"status": "open", "page": "1"}).status_code == 200


@pytest.mark.parametrize("page", ["0", "-1", "abc", "", "last", "1.5"])
def test_a_page_number_is_one_whole_number_from_1(alice_client: APIClient, page: str) -> None:
    _error(alice_client.get(SESSIONS, {"page": page}), 400, "invalid_page")


def test_a_page_past_the_last_is_a_404_and_a_repeated_page_a_400(alice_client: APIClient) -> None:
    _error(alice_client.get("/api/v1/members/", {"page": "2"}), 404, "not_found")
    _error(alice_client.get("/api/v1/members/?page=1&page=1"), 400, "invalid_page")


def test_json_values_keep_their_types(alice_client: APIClient, bob: User, nothing_written: Any) -> None:
    with nothing_written():
        name = alice_client.post("/api/v1/tokens/", {"name": 0, "scope": "read"}, format="json")
        switch = alice_client.patch("/api/v1/company/", {"agent_views_hidden": "yes"}, format="json")
        days = alice_client.patch("/api/v1/company/", {"retention_days": "30"}, format="json")
    assert name.status_code == 400 and name.json() == {"name": ["Must be a string."]}
    assert switch.status_code == 400 and switch.json() == {"agent_views_hidden": ["Must be true or false."]}
    assert days.status_code == 400 and days.json() == {"retention_days": ["Must be a whole number."]}


def test_a_member_patch_without_a_role_changes_nothing(
    alice_client: APIClient, company_a: Any, bob: User, nothing_written: Any
) -> None:
    membership = Membership.objects.for_company(company_a).get(user=bob)
    with nothing_written():
        response = alice_client.patch(f"/api/v1/members/{membership.public_id}/", {}, format="json")
    assert response.status_code == 200 and response.json()["role"] == Role.AGENT


def test_an_invitation_a_token_made_names_no_inviter(token_a_client: APIClient, token_a: IssuedToken) -> None:
    response = token_a_client.post("/api/v1/invitations/", {"email": "erin@a.test"}, format="json")
    assert response.status_code == 201 and response.json()["invited_by"] is None
