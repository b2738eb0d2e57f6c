"""allauth pages: signup creates a company, e-mail verification, login, logout, password reset."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import AuditEvent, Company, Membership, Role, User
from tests.factories import PASSWORD

SIGNUP = "/accounts/signup/"
LOGIN = "/accounts/login/"


def _signup(client: Client, **overrides: str):
    data = {
        "email": "founder@new.test",
        "password1": "a-long-enough-passphrase",
        "password2": "a-long-enough-passphrase",
        "company_name": "Fresh Start Ltd",
        **overrides,
    }
    return client.post(SIGNUP, data)


def _confirm_link(body: str) -> str:
    match = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+/)", body)
    assert match, body
    return match.group(1)


def test_signup_creates_a_company_with_the_signer_as_owner(client, db, mailoutbox, settings) -> None:
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    response = _signup(client)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    user = User.objects.get(email="founder@new.test")
    company = Company.objects.get(name="Fresh Start Ltd")
    assert company.slug == "fresh-start-ltd"
    assert Membership.objects.for_company(company).get(user=user).role == Role.OWNER
    assert set(AuditEvent.objects.for_company(company).values_list("action", flat=True)) == {
        "company.created",
        "member.added",
    }
    # Verification is mandatory in services mode: no session until the link is followed.
    assert client.get("/company/").status_code == 302
    link = _confirm_link(mailoutbox[0].body)
    assert client.post(link).status_code == 302
    home = client.get("/company/")
    assert home.status_code == 200
    assert b"Fresh Start Ltd" in home.content


def test_email_verification_is_mandatory_in_services_mode_and_optional_when_embedded() -> None:
    from django.conf import settings

    expected = {"services": "mandatory", "embedded": "optional"}[settings.MOODSAAS_MODE]
    assert expected == settings.ACCOUNT_EMAIL_VERIFICATION


def test_two_companies_with_the_same_name_get_different_slugs(client, company_a) -> None:
    _signup(client, company_name="Acme Support")
    slugs = set(Company.objects.filter(name="Acme Support").values_list("slug", flat=True))
    assert len(slugs) == 2
    assert "acme-support" in slugs


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"company_name": ""}, "company_name", "Enter your company's name, or open your invitation link"),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"password2": "something-else-entirely"}, "password2", "You must type the same password each time."),
        ({"password1": "123", "password2": "123"}, "password1", "This password is too short."),
    ],
)
def test_invalid_signups_are_rejected_precisely_and_create_nothing(client, db, overrides, field, message) -> None:
    response = _signup(client, **overrides)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors
    assert any(message in e for e in errors[field])
    assert User.objects.count() == 0
    assert Company.objects.count() == 0


def test_signing_up_with_a_taken_email_creates_nothing(client, alice, nothing_written, settings) -> None:
    settings.ACCOUNT_PREVENT_ENUMERATION = False
    with nothing_written():
        response = _signup(client, email="ALICE@a.test")
    assert response.status_code == 200
    assert "email" in response.context["form"].errors


def test_alice_logs_in_with_her_email_and_sees_her_company(client, alice, bob) -> None:
    response = client.post(LOGIN, {"login": "alice@a.test", "password": PASSWORD})
    assert response.status_code == 302
    home = client.get("/company/")
    assert home.status_code == 200
    assert b"Acme Support" in home.content
    assert b"bob@a.test" in home.content


def test_a_wrong_password_does_not_log_in(client, alice) -> None:
    response = client.post(LOGIN, {"login": "alice@a.test", "password": "wrong"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_logout_ends_the_session(client, alice) -> None:
    client.force_login(alice)
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/company/").status_code == 302


def test_password_reset_mails_a_working_link(client, alice, mailoutbox) -> None:
    response = client.post("/accounts/password/reset/", {"email": "alice@a.test"})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/[^\s]+/)", mailoutbox[0].body)
    assert link
    form_page = client.get(link.group(1), follow=True)
    assert form_page.status_code == 200
    done = client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else link.group(1),
        {"password1": "brand-new-passphrase", "password2": "brand-new-passphrase"},
    )
    assert done.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("brand-new-passphrase")


def test_the_login_page_uses_the_site_layout_without_external_assets(client, db) -> None:
    response = client.get(LOGIN)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/frontend/site.css" in html
    assert "http://" not in html.replace("http://testserver", "")
    assert "https://" not in html
