"""/api/v1/members/: list, change role, remove; owner rules."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent, Membership, Role
from tests.factories import MembershipFactory

URL = "/api/v1/members/"


def _membership(company, user) -> Membership:
    return Membership.objects.for_company(company).get(user=user)


def _url(membership: Membership) -> str:
    return f"{URL}{membership.public_id}/"


def test_any_member_lists_the_members_of_their_company(bob_client, alice, charlie) -> None:
    response = bob_client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert {m["email"]: m["role"] for m in body["results"]} == {
        "owner@a.test": "owner",
        "alice@a.test": "admin",
        "bob@a.test": "agent",
    }


def test_a_token_lists_only_its_companys_members(token_b_client, alice, charlie) -> None:
    response = token_b_client.get(URL)
    assert response.status_code == 200
    assert [m["email"] for m in response.json()["results"]] == ["charlie@b.test"]


@pytest.mark.parametrize("extra_members", [0, 15])
def test_listing_members_takes_a_fixed_number_of_queries(
    alice_client, company_a, alice, bob, django_assert_num_queries, extra_members
) -> None:
    for _ in range(extra_members):
        MembershipFactory.create(company=company_a)
    alice_client.get(URL)  # the first request stores the active company in the session
    # session, user, active membership, count, page
    with django_assert_num_queries(5):
        response = alice_client.get(URL)
    assert response.json()["count"] == 3 + extra_members


def test_a_member_is_retrieved_by_public_id(bob_client, company_a, alice) -> None:
    response = bob_client.get(_url(_membership(company_a, alice)))
    assert response.status_code == 200
    assert response.json()["email"] == "alice@a.test"


def test_a_malformed_member_id_is_a_404(bob_client, alice) -> None:
    assert bob_client.get(f"{URL}not-a-uuid/").status_code == 404


def test_alice_promotes_bob_to_admin_and_it_is_audited(alice_client, company_a, bob) -> None:
    membership = _membership(company_a, bob)
    response = alice_client.patch(_url(membership), {"role": "admin"}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    event = AuditEvent.objects.for_company(company_a).get(action="member.role_changed")
    assert event.metadata == {"from": "agent", "to": "admin", "email": "bob@a.test"}
    assert event.target_id == str(membership.public_id)


def test_bob_the_agent_cannot_change_roles(bob_client, company_a, alice, nothing_written) -> None:
    with nothing_written():
        response = bob_client.patch(_url(_membership(company_a, alice)), {"role": "agent"}, format="json")
    assert response.status_code == 403


def test_alice_the_admin_cannot_make_an_owner(alice_client, company_a, bob, nothing_written) -> None:
    with nothing_written():
        response = alice_client.patch(_url(_membership(company_a, bob)), {"role": "owner"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only an owner or higher can grant or remove the owner role.", "code": "role"}


def test_alice_the_admin_cannot_demote_the_owner(alice_client, company_a, owner, nothing_written) -> None:
    with nothing_written():
        response = alice_client.patch(_url(_membership(company_a, owner)), {"role": "agent"}, format="json")
    assert response.status_code == 403


def test_the_last_owner_cannot_demote_themselves(owner_client, company_a, owner, nothing_written) -> None:
    with nothing_written():
        response = owner_client.patch(_url(_membership(company_a, owner)), {"role": "admin"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "last_owner"


def test_an_owner_hands_over_ownership_then_steps_down(owner_client, company_a, owner, alice) -> None:
    assert owner_client.patch(_url(_membership(company_a, alice)), {"role": "owner"}, format="json").status_code == 200
    response = owner_client.patch(_url(_membership(company_a, owner)), {"role": "admin"}, format="json")
    assert response.status_code == 200
    assert _membership(company_a, owner).role == Role.ADMIN


def test_an_unknown_role_is_rejected(alice_client, company_a, bob, nothing_written) -> None:
    with nothing_written():
        response = alice_client.patch(_url(_membership(company_a, bob)), {"role": "king"}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["role"]


def test_a_read_only_token_cannot_change_roles(read_token_a_client, company_a, bob, nothing_written) -> None:
    with nothing_written():
        response = read_token_a_client.patch(_url(_membership(company_a, bob)), {"role": "admin"}, format="json")
    assert response.status_code == 403


def test_a_read_write_token_cannot_grant_ownership(token_a_client, company_a, bob, nothing_written) -> None:
    with nothing_written():
        response = token_a_client.patch(_url(_membership(company_a, bob)), {"role": "owner"}, format="json")
    assert response.status_code == 403


def test_alice_removes_bob_and_it_is_audited(alice_client, company_a, bob) -> None:
    membership = _membership(company_a, bob)
    response = alice_client.delete(_url(membership))
    assert response.status_code == 204
    assert not Membership.objects.for_company(company_a).filter(user=bob).exists()
    event = AuditEvent.objects.for_company(company_a).get(action="member.removed")
    assert event.metadata == {"email": "bob@a.test", "role": "agent"}


def test_bob_the_agent_cannot_remove_members(bob_client, company_a, alice, nothing_written) -> None:
    with nothing_written():
        response = bob_client.delete(_url(_membership(company_a, alice)))
    assert response.status_code == 403


def test_alice_the_admin_cannot_remove_the_owner(alice_client, company_a, owner, nothing_written) -> None:
    with nothing_written():
        response = alice_client.delete(_url(_membership(company_a, owner)))
    assert response.status_code == 403


def test_the_last_owner_cannot_be_removed(owner_client, company_a, owner, nothing_written) -> None:
    with nothing_written():
        response = owner_client.delete(_url(_membership(company_a, owner)))
    assert response.status_code == 409
    assert response.json()["detail"] == "The last owner cannot be removed."


def test_put_is_not_allowed(alice_client, company_a, bob, nothing_written) -> None:
    with nothing_written():
        response = alice_client.put(_url(_membership(company_a, bob)), {"role": "admin"}, format="json")
    assert response.status_code == 405


# --- Another company's members are invisible: 404, nothing written.


def test_charlie_cannot_see_a_member_of_company_a(charlie_client, company_a, bob) -> None:
    assert charlie_client.get(_url(_membership(company_a, bob))).status_code == 404


def test_charlie_cannot_change_the_role_of_a_member_of_company_a(
    charlie_client, company_a, bob, nothing_written
) -> None:
    with nothing_written():
        response = charlie_client.patch(_url(_membership(company_a, bob)), {"role": "admin"}, format="json")
    assert response.status_code == 404


def test_charlie_cannot_remove_a_member_of_company_a(charlie_client, company_a, bob, nothing_written) -> None:
    with nothing_written():
        response = charlie_client.delete(_url(_membership(company_a, bob)))
    assert response.status_code == 404


def test_a_token_of_company_b_cannot_remove_a_member_of_company_a(
    token_b_client, company_a, bob, nothing_written
) -> None:
    target = _membership(company_a, bob)
    token_b_client.get("/api/v1/company/")  # first use records last_used_at
    with nothing_written():
        assert token_b_client.delete(_url(target)).status_code == 404
        assert token_b_client.patch(_url(target), {"role": "admin"}, format="json").status_code == 404
