"""``Authorization: Bearer mood_...``: precise 401s and scope rules."""

from __future__ import annotations

import pytest

from accounts.models import ApiToken

URL = "/api/v1/company/"


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Bearer", "Malformed Authorization header: expected 'Bearer <token>'."),
        ("Bearer a b", "Malformed Authorization header: expected 'Bearer <token>'."),
        ("Bearer abc", "Malformed API token: expected 'mood_' and 43 characters."),
        ("Bearer mood_short", "Malformed API token: expected 'mood_' and 43 characters."),
        ("Bearer mood_" + "!" * 43, "Malformed API token: expected 'mood_' and 43 characters."),
        ("Bearer mood_" + "a" * 43, "Unknown API token."),
    ],
)
def test_bad_tokens_get_a_precise_401(anon_client, token_a, header, detail, nothing_written) -> None:
    anon_client.credentials(HTTP_AUTHORIZATION=header)
    with nothing_written():
        response = anon_client.patch(URL, {"name": "hacked"}, format="json")
    assert response.status_code == 401
    assert response.json()["detail"] == detail


def test_a_revoked_token_gets_a_precise_401(anon_client, token_a, nothing_written) -> None:
    ApiToken.objects.for_company(token_a.token.company).filter(pk=token_a.token.pk).update(
        revoked_at=token_a.token.created_at
    )
    anon_client.credentials(HTTP_AUTHORIZATION=token_a.header)
    with nothing_written():
        response = anon_client.get(URL)
    assert response.status_code == 401
    assert response.json()["detail"] == "This API token has been revoked."


def test_a_read_token_may_read_but_not_write(read_token_a_client, nothing_written) -> None:
    assert read_token_a_client.get("/api/v1/members/").status_code == 200
    with nothing_written():
        response = read_token_a_client.post("/api/v1/invitations/", {"email": "z@a.test"}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "This API token is read-only."


def test_a_token_records_when_it_was_last_used(token_a_client, token_a) -> None:
    assert token_a.token.last_used_at is None
    token_a_client.get(URL)
    token_a.token.refresh_from_db()
    assert token_a.token.last_used_at is not None


def test_a_token_of_company_b_sees_only_company_b(token_b_client, company_b, alice) -> None:
    assert token_b_client.get(URL).json()["id"] == str(company_b.public_id)


def test_other_authorization_schemes_fall_through_to_401(anon_client, company_a) -> None:
    anon_client.credentials(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert anon_client.get(URL).status_code == 401
