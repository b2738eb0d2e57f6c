"""/api/v1/me/ and switching the active company."""

from __future__ import annotations

from accounts.models import Membership, Role
from accounts.tenancy import ACTIVE_COMPANY_SESSION_KEY


def test_me_lists_the_users_companies_and_the_active_one(alice_client, company_a, company_b, alice) -> None:
    Membership.unscoped_objects.create(user=alice, company=company_b, role=Role.AGENT)
    response = alice_client.get("/api/v1/me/")
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == "alice@a.test"
    assert body["active_company"] == str(company_a.public_id)
    assert {(c["name"], c["role"], c["active"]) for c in body["companies"]} == {
        ("Acme Support", "admin", True),
        ("Bravo Care", "agent", False),
    }


def test_alice_switches_to_another_of_her_companies(alice_client, company_a, company_b, alice) -> None:
    Membership.unscoped_objects.create(user=alice, company=company_b, role=Role.AGENT)
    response = alice_client.post("/api/v1/me/switch-company/", {"company": str(company_b.public_id)}, format="json")
    assert response.status_code == 200
    assert response.json()["active_company"] == str(company_b.public_id)
    company = alice_client.get("/api/v1/company/").json()
    assert company["id"] == str(company_b.public_id)
    # Her role follows the company: agent in B, so settings are now off limits.
    assert alice_client.patch("/api/v1/company/", {"name": "x"}, format="json").status_code == 403


def test_charlie_cannot_switch_into_company_a(charlie_client, company_a, company_b, nothing_written) -> None:
    assert charlie_client.get("/api/v1/company/").status_code == 200
    with nothing_written():
        response = charlie_client.post(
            "/api/v1/me/switch-company/", {"company": str(company_a.public_id)}, format="json"
        )
    assert response.status_code == 404
    assert charlie_client.session[ACTIVE_COMPANY_SESSION_KEY] == str(company_b.public_id)
    assert charlie_client.get("/api/v1/company/").json()["id"] == str(company_b.public_id)


def test_switching_needs_a_valid_company_id(alice_client) -> None:
    response = alice_client.post("/api/v1/me/switch-company/", {"company": "not-a-uuid"}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["company"]


def test_api_tokens_cannot_switch_companies(token_a_client, company_b) -> None:
    response = token_a_client.post("/api/v1/me/switch-company/", {"company": str(company_b.public_id)}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "This endpoint needs a signed-in user; API tokens cannot use it."
    assert token_a_client.get("/api/v1/me/").status_code == 403


def test_a_user_removed_from_the_active_company_falls_back_to_another(alice_client, company_a, company_b, alice):
    Membership.unscoped_objects.create(user=alice, company=company_b, role=Role.AGENT)
    alice_client.get("/api/v1/company/")
    Membership.objects.for_company(company_a).filter(user=alice).delete()
    assert alice_client.get("/api/v1/company/").json()["id"] == str(company_b.public_id)


def test_a_user_without_any_company_gets_a_precise_403(alice_client, company_a, alice) -> None:
    Membership.objects.for_company(company_a).filter(user=alice).delete()
    response = alice_client.get("/api/v1/company/")
    assert response.status_code == 403
    assert response.json()["detail"] == "You are not a member of any company."


def test_charlie_sees_only_his_own_company(charlie_client, company_a, company_b, alice) -> None:
    body = charlie_client.get("/api/v1/me/").json()
    assert [c["name"] for c in body["companies"]] == ["Bravo Care"]
    assert body["active_company"] == str(company_b.public_id)
