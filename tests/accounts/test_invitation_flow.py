"""Accepting invitations in the browser: signed in, by signing up, and every bad case."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts import actions
from accounts.forms import PENDING_INVITATION_SESSION_KEY
from accounts.models import Actor, Company, Invitation, Membership, Role, User
from tests.factories import UserFactory


def _invite(company: Company, email: str = "dana@a.test", role: Role = Role.AGENT) -> tuple[Invitation, str]:
    return actions.invite_member(actor=Actor(role=Role.OWNER), company=company, email=email, role=role)


def _url(secret: str) -> str:
    return f"/invitations/{secret}/"


def test_a_signed_in_user_accepts_and_lands_in_the_company(client, company_a, company_b) -> None:
    dana = UserFactory.create(email="dana@a.test")
    Membership.unscoped_objects.create(user=dana, company=company_b, role=Role.OWNER)
    invitation, secret = _invite(company_a, role=Role.ADMIN)
    client.force_login(dana)
    page = client.get(_url(secret))
    assert page.status_code == 200
    assert b"Accept invitation" in page.content
    response = client.post(_url(secret))
    assert response.status_code == 302
    assert Membership.objects.for_company(company_a).get(user=dana).role == Role.ADMIN
    invitation.refresh_from_db()
    assert invitation.status() == "accepted"
    assert invitation.accepted_by == dana
    # The new company becomes the active one.
    assert b"Acme Support" in client.get("/company/").content


def test_a_new_person_signs_up_through_the_invitation_without_creating_a_company(client, company_a, owner) -> None:
    _, secret = _invite(company_a)
    page = client.get(_url(secret))
    assert page.status_code == 200
    assert client.session[PENDING_INVITATION_SESSION_KEY] == secret
    response = client.post(
        "/accounts/signup/",
        {"email": "dana@a.test", "password1": "a-long-enough-passphrase", "password2": "a-long-enough-passphrase"},
    )
    assert response.status_code == 302
    dana = User.objects.get(email="dana@a.test")
    assert Membership.objects.for_user(dana).get().company == company_a
    assert Company.objects.count() == 1
    # The invitation proved the address: no verification round trip, straight in.
    assert client.get("/company/").status_code == 200


def test_signing_up_through_an_invitation_with_another_email_is_refused(client, company_a, nothing_written) -> None:
    _, secret = _invite(company_a)
    client.get(_url(secret))
    with nothing_written():
        response = client.post(
            "/accounts/signup/",
            {
                "email": "mallory@x.test",
                "password1": "a-long-enough-passphrase",
                "password2": "a-long-enough-passphrase",
            },
        )
    assert response.status_code == 200
    assert "This invitation is for dana@a.test" in response.context["form"].errors["email"][0]


def test_an_expired_invitation_is_refused_and_changes_nothing(client, company_a, nothing_written) -> None:
    invitation, secret = _invite(company_a)
    Invitation.objects.for_company(company_a).filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    client.force_login(UserFactory.create(email="dana@a.test"))
    with nothing_written():
        response = client.post(_url(secret))
    assert response.status_code == 409
    assert b"This invitation expired on" in response.content


def test_a_used_invitation_cannot_be_used_again(client, company_a, nothing_written) -> None:
    _, secret = _invite(company_a)
    actions.accept_invitation(secret=secret, user=UserFactory.create(email="dana@a.test"))
    client.force_login(UserFactory.create(email="eve@a.test"))
    with nothing_written():
        response = client.post(_url(secret))
    assert response.status_code == 409
    assert b"This invitation has already been used." in response.content


def test_a_revoked_invitation_is_refused(client, company_a, nothing_written) -> None:
    invitation, secret = _invite(company_a)
    actions.revoke_invitation(actor=Actor(role=Role.OWNER), invitation=invitation)
    client.force_login(UserFactory.create(email="dana@a.test"))
    with nothing_written():
        response = client.post(_url(secret))
    assert response.status_code == 409
    assert b"This invitation has been revoked." in response.content


def test_an_unknown_invitation_link_is_refused(client, db, nothing_written) -> None:
    with nothing_written():
        response = client.get(_url("not-a-real-secret"))
    assert response.status_code == 400
    assert b"This invitation link is not valid." in response.content


def test_an_invitation_for_someone_else_cannot_be_accepted(client, company_a, charlie, nothing_written) -> None:
    _, secret = _invite(company_a)
    client.force_login(charlie)
    with nothing_written():
        response = client.post(_url(secret))
    assert response.status_code == 403
    assert b"was sent to dana@a.test, but you are signed in as charlie@b.test" in response.content


def test_an_expired_invitation_stashed_before_signup_blocks_the_signup(client, company_a, nothing_written) -> None:
    invitation, secret = _invite(company_a)
    client.get(_url(secret))
    Invitation.objects.for_company(company_a).filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with nothing_written():
        response = client.post(
            "/accounts/signup/",
            {"email": "dana@a.test", "password1": "a-long-enough-passphrase", "password2": "a-long-enough-passphrase"},
        )
    assert response.status_code == 200
    assert "This invitation expired on" in str(response.context["form"].non_field_errors())
