"""/api/v1/tokens/: create (secret shown once), list, revoke; and Bearer authentication."""

from __future__ import annotations

from accounts.models import ApiToken, AuditEvent, hash_secret

URL = "/api/v1/tokens/"


def _create(client, name: str = "CRM sync", scope: str = "read"):
    return client.post(URL, {"name": name, "scope": scope}, format="json")


def test_alice_creates_a_token_and_sees_its_secret_once(alice_client, company_a) -> None:
    response = _create(alice_client, scope="read_write")
    assert response.status_code == 201
    body = response.json()
    secret = body["secret"]
    assert secret.startswith("mood_")
    assert body["prefix"] == secret[:12]
    assert body["scope"] == "read_write"
    assert body["created_by"] == "alice@a.test"
    token = ApiToken.objects.for_company(company_a).get(public_id=body["id"])
    assert token.key_hash == hash_secret(secret)
    assert secret not in str(ApiToken.objects.for_company(company_a).values().get(pk=token.pk))
    listed = alice_client.get(URL).json()["results"]
    assert "secret" not in listed[0]
    assert AuditEvent.objects.for_company(company_a).get(action="api_token.created").metadata == {
        "name": "CRM sync",
        "scope": "read_write",
    }


def test_the_new_secret_authenticates_immediately(alice_client, anon_client, company_a) -> None:
    secret = _create(alice_client).json()["secret"]
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = anon_client.get("/api/v1/company/")
    assert response.status_code == 200
    assert response.json()["id"] == str(company_a.public_id)
    assert ApiToken.objects.for_company(company_a).get(key_hash=hash_secret(secret)).last_used_at is not None


def test_bob_the_agent_cannot_create_tokens(bob_client, nothing_written) -> None:
    with nothing_written():
        response = _create(bob_client)
    assert response.status_code == 403


def test_bob_the_agent_cannot_list_tokens(bob_client) -> None:
    assert bob_client.get(URL).status_code == 403


def test_a_token_cannot_mint_another_token(token_a_client, nothing_written) -> None:
    token_a_client.get("/api/v1/company/")
    with nothing_written():
        response = _create(token_a_client)
    assert response.status_code == 403
    assert response.json()["detail"] == "API tokens cannot use this endpoint; sign in instead."


def test_invalid_token_requests_are_rejected_precisely(alice_client, nothing_written) -> None:
    with nothing_written():
        blank = alice_client.post(URL, {"name": "", "scope": "read"}, format="json")
        bad_scope = alice_client.post(URL, {"name": "x", "scope": "admin"}, format="json")
    assert blank.status_code == 400
    assert list(blank.json()) == ["name"]
    assert bad_scope.status_code == 400
    assert list(bad_scope.json()) == ["scope"]


def test_listing_tokens_takes_a_fixed_number_of_queries(alice_client, django_assert_num_queries) -> None:
    for n in range(10):
        _create(alice_client, name=f"t{n}")
    with django_assert_num_queries(5):
        response = alice_client.get(URL)
    assert response.json()["count"] == 10


def test_alice_revokes_a_token_and_it_stops_working(alice_client, anon_client, company_a) -> None:
    created = _create(alice_client).json()
    response = alice_client.delete(f"{URL}{created['id']}/")
    assert response.status_code == 204
    assert alice_client.get(f"{URL}{created['id']}/").json()["revoked_at"] is not None
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {created['secret']}")
    rejected = anon_client.get("/api/v1/company/")
    assert rejected.status_code == 401
    assert rejected.json()["detail"] == "This API token has been revoked."
    assert AuditEvent.objects.for_company(company_a).filter(action="api_token.revoked").count() == 1


def test_revoking_a_revoked_token_is_a_conflict(alice_client, nothing_written) -> None:
    created = _create(alice_client).json()
    alice_client.delete(f"{URL}{created['id']}/")
    with nothing_written():
        response = alice_client.delete(f"{URL}{created['id']}/")
    assert response.status_code == 409
    assert response.json()["code"] == "already_revoked"


# --- Another company's tokens: 404, nothing written.


def test_charlie_cannot_see_a_token_of_company_a(alice_client, charlie_client) -> None:
    created = _create(alice_client).json()
    assert charlie_client.get(f"{URL}{created['id']}/").status_code == 404
    assert charlie_client.get(URL).json()["count"] == 0


def test_charlie_cannot_revoke_a_token_of_company_a(alice_client, charlie_client, nothing_written) -> None:
    created = _create(alice_client).json()
    with nothing_written():
        response = charlie_client.delete(f"{URL}{created['id']}/")
    assert response.status_code == 404


def test_charlie_creating_a_token_puts_it_in_company_b(charlie_client, company_a, company_b) -> None:
    assert _create(charlie_client).status_code == 201
    assert ApiToken.objects.for_company(company_b).count() == 1
    assert ApiToken.objects.for_company(company_a).count() == 0
