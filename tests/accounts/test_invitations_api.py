"""/api/v1/invitations/: create, list, revoke (admins)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEvent, Invitation, Role, hash_secret
from tests.factories import UserFactory

URL = "/api/v1/invitations/"


def _invite(client, email: str = "dana@a.test", role: str = "agent"):
    return client.post(URL, {"email": email, "role": role}, format="json")


def test_alice_invites_a_new_agent_and_the_link_is_mailed(
    alice_client, company_a, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(alice_client, "Dana@A.test")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["email"] == "dana@a.test"
    assert body["role"] == "agent"
    assert body["status"] == "pending"
    assert body["invited_by"] == "alice@a.test"
    secret = body["accept_url"].rstrip("/").rsplit("/", 1)[1]
    invitation = Invitation.objects.for_company(company_a).get(public_id=body["id"])
    assert invitation.token_hash == hash_secret(secret)  # only the hash is stored
    assert invitation.expires_at - timezone.now() > timedelta(days=6)
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["dana@a.test"]
    assert f"http://testserver/invitations/{secret}/" in mailoutbox[0].body
    assert AuditEvent.objects.for_company(company_a).filter(action="invitation.created").count() == 1


def test_the_secret_is_never_listed_again(alice_client) -> None:
    _invite(alice_client)
    listed = alice_client.get(URL).json()["results"][0]
    assert "accept_url" not in listed
    assert set(listed) == {
        "id",
        "email",
        "role",
        "status",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
    }


def test_bob_the_agent_cannot_invite(bob_client, nothing_written) -> None:
    with nothing_written():
        response = _invite(bob_client)
    assert response.status_code == 403


def test_bob_the_agent_cannot_list_invitations(bob_client) -> None:
    assert bob_client.get(URL).status_code == 403


def test_alice_the_admin_cannot_invite_an_owner(alice_client, nothing_written) -> None:
    with nothing_written():
        response = _invite(alice_client, role="owner")
    assert response.status_code == 403
    assert response.json()["detail"] == "Only an owner or higher can invite owners."


def test_the_owner_can_invite_an_owner(owner_client) -> None:
    assert _invite(owner_client, role="owner").status_code == 201


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"email": "not-an-email"}, "email"), ({"email": "x@y.test", "role": "boss"}, "role"), ({}, "email")],
)
def test_invalid_invitations_are_rejected_precisely(alice_client, nothing_written, payload, field) -> None:
    with nothing_written():
        response = alice_client.post(URL, payload, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_inviting_an_existing_member_is_a_conflict(alice_client, bob, nothing_written) -> None:
    with nothing_written():
        response = _invite(alice_client, "BOB@a.test")
    assert response.status_code == 409
    assert response.json() == {"detail": "bob@a.test is already a member of Acme Support.", "code": "already_member"}


def test_inviting_the_same_address_twice_is_a_conflict(alice_client, nothing_written) -> None:
    _invite(alice_client)
    with nothing_written():
        response = _invite(alice_client)
    assert response.status_code == 409
    assert response.json()["code"] == "already_invited"


def test_listing_invitations_takes_a_fixed_number_of_queries(alice_client, django_assert_num_queries) -> None:
    for n in range(12):
        _invite(alice_client, f"person{n}@a.test")
    with django_assert_num_queries(5):
        response = alice_client.get(URL)
    assert response.json()["count"] == 12


def test_alice_revokes_a_pending_invitation(alice_client, company_a) -> None:
    created = _invite(alice_client).json()
    response = alice_client.delete(f"{URL}{created['id']}/")
    assert response.status_code == 204
    invitation = Invitation.objects.for_company(company_a).get(public_id=created["id"])
    assert invitation.status() == "revoked"
    assert alice_client.get(f"{URL}{created['id']}/").json()["status"] == "revoked"
    assert AuditEvent.objects.for_company(company_a).filter(action="invitation.revoked").count() == 1


def test_revoking_twice_is_a_conflict(alice_client, nothing_written) -> None:
    created = _invite(alice_client).json()
    alice_client.delete(f"{URL}{created['id']}/")
    with nothing_written():
        response = alice_client.delete(f"{URL}{created['id']}/")
    assert response.status_code == 409
    assert response.json()["detail"] == "Only pending invitations can be revoked; this one is revoked."


def test_an_accepted_invitation_cannot_be_revoked(alice_client, company_a, nothing_written) -> None:
    from accounts import actions

    created = _invite(alice_client, "erin@a.test").json()
    secret = created["accept_url"].rstrip("/").rsplit("/", 1)[1]
    actions.accept_invitation(secret=secret, user=UserFactory.create(email="erin@a.test"))
    with nothing_written():
        response = alice_client.delete(f"{URL}{created['id']}/")
    assert response.status_code == 409


def test_bob_the_agent_cannot_revoke(alice_client, bob_client, nothing_written) -> None:
    created = _invite(alice_client).json()
    with nothing_written():
        response = bob_client.delete(f"{URL}{created['id']}/")
    assert response.status_code == 403


def test_an_expired_invitation_is_listed_as_expired(alice_client, company_a) -> None:
    created = _invite(alice_client).json()
    Invitation.objects.for_company(company_a).filter(public_id=created["id"]).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert alice_client.get(f"{URL}{created['id']}/").json()["status"] == "expired"


# --- Another company's invitations: 404, nothing written.


def test_charlie_cannot_see_an_invitation_of_company_a(alice_client, charlie_client) -> None:
    created = _invite(alice_client).json()
    assert charlie_client.get(f"{URL}{created['id']}/").status_code == 404
    assert charlie_client.get(URL).json()["count"] == 0


def test_charlie_cannot_revoke_an_invitation_of_company_a(alice_client, charlie_client, nothing_written) -> None:
    created = _invite(alice_client).json()
    with nothing_written():
        response = charlie_client.delete(f"{URL}{created['id']}/")
    assert response.status_code == 404


def test_a_token_of_company_b_cannot_revoke_an_invitation_of_company_a(
    alice_client, token_b_client, nothing_written
) -> None:
    created = _invite(alice_client).json()
    token_b_client.get(URL)
    with nothing_written():
        response = token_b_client.delete(f"{URL}{created['id']}/")
    assert response.status_code == 404


def test_charlie_inviting_creates_the_invitation_in_company_b_only(charlie_client, company_a, company_b) -> None:
    response = charlie_client.post(URL, {"email": "x@b.test", "role": Role.ADMIN}, format="json")
    assert response.status_code == 201
    assert Invitation.objects.for_company(company_b).count() == 1
    assert Invitation.objects.for_company(company_a).count() == 0
