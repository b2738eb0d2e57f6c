"""Account e-mails (verification, password reset, invitation and allauth's notices) in the shared layout.

Each has a plain-text body and an HTML alternative built on ``email/base.html``; the links in
both parts are the same and work when followed; the language is the reader's.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.template.loader import render_to_string
from django.test import Client
from django.utils import translation
from django.utils.formats import date_format

from accounts.models import Company, Invitation, Membership, Role, User
from tests.factories import PASSWORD

SIGNUP_PASSWORD = "a-long-enough-passphrase"
HEADER = "<strong>MoodSaaS</strong>"


def _parts(message: mail.EmailMessage) -> tuple[str, str]:
    """The text body and the one HTML alternative of ``message``."""
    assert isinstance(message, mail.EmailMultiAlternatives)
    assert [mimetype for _content, mimetype in message.alternatives] == ["text/html"]
    html = message.alternatives[0][0]
    assert isinstance(html, str)
    return str(message.body), html


def _link(text: str, html: str, path: str) -> str:
    """The one link to ``path...`` in the text part, also the button's target in the HTML part."""
    match = re.search(rf"https?://[^/\s]+({re.escape(path)}[^\s]*)", text)
    assert match, text
    assert f'href="{match.group(0)}"' in html
    return match.group(1)


def _signup(client: Client, email: str = "founder@new.test", language: str = "en") -> Any:
    data = {
        "email": email,
        "password1": SIGNUP_PASSWORD,
        "password2": SIGNUP_PASSWORD,
        "company_name": "Fresh Start Ltd",
    }
    return client.post("/accounts/signup/", data, headers={"Accept-Language": language})


def test_the_signup_confirmation_has_both_parts_in_the_shared_layout_and_its_link_verifies(
    client, db, mailoutbox, settings
) -> None:
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    assert _signup(client).status_code == 302
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.subject == "[MoodSaaS] Welcome to MoodSaaS: confirm your e-mail address"
    assert message.to == ["founder@new.test"]
    text, html = _parts(message)
    assert text.startswith("MoodSaaS\n====")
    assert HEADER in html and 'lang="en"' in html and "Confirm my e-mail address" in html
    link = _link(text, html, "/accounts/confirm-email/")
    assert client.post(link).status_code == 302
    assert EmailAddress.objects.get(email="founder@new.test").verified
    assert client.get("/company/").status_code == 200


def test_an_address_added_later_gets_the_other_confirmation_e_mail(client, alice, mailoutbox) -> None:
    client.force_login(alice)
    response = client.post("/accounts/email/", {"action_add": "", "email": "alice.second@a.test"})
    assert response.status_code == 302
    message = mailoutbox[-1]
    assert message.subject == "[MoodSaaS] Confirm your e-mail address"
    text, html = _parts(message)
    assert "alice.second@a.test was added to a MoodSaaS account" in text
    assert HEADER in html
    link = _link(text, html, "/accounts/confirm-email/")
    assert client.post(link).status_code == 302
    assert EmailAddress.objects.get(email="alice.second@a.test").verified


def test_the_signup_confirmation_is_in_spanish_for_a_spanish_browser(client, db, mailoutbox, settings) -> None:
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    assert _signup(client, language="es").status_code == 302
    _text, html = _parts(mailoutbox[0])
    assert 'lang="es"' in html


def test_the_password_reset_e_mail_has_both_parts_and_its_link_sets_a_new_password(client, alice, mailoutbox) -> None:
    assert client.post("/accounts/password/reset/", {"email": "alice@a.test"}).status_code == 302
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.subject == "[MoodSaaS] Reset your password"
    text, html = _parts(message)
    assert HEADER in html and "Choose a new password" in html
    link = _link(text, html, "/accounts/password/reset/key/")
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    done = client.post(
        form_page.redirect_chain[-1][0], {"password1": "brand-new-passphrase", "password2": "brand-new-passphrase"}
    )
    assert done.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("brand-new-passphrase")


def test_a_reset_for_an_unknown_address_says_so_and_links_to_signup(client, db, mailoutbox) -> None:
    assert client.post("/accounts/password/reset/", {"email": "nobody@nowhere.test"}).status_code == 302
    message = mailoutbox[0]
    assert message.subject == "[MoodSaaS] There is no account with this e-mail address"
    text, html = _parts(message)
    assert HEADER in html and "nobody@nowhere.test" in text
    assert client.get(_link(text, html, "/accounts/signup/")).status_code == 200


def test_signing_up_with_a_taken_address_mails_its_owner_a_reset_link(client, alice, mailoutbox, settings) -> None:
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    assert _signup(client, email="alice@a.test").status_code == 302
    message = mailoutbox[0]
    assert message.subject == "[MoodSaaS] You already have an account"
    text, html = _parts(message)
    assert HEADER in html
    assert client.get(_link(text, html, "/accounts/password/reset/")).status_code == 200
    assert User.objects.filter(email="alice@a.test").count() == 1


def test_a_password_change_notice_shows_what_changed_and_from_where(client, alice, mailoutbox, settings) -> None:
    settings.ACCOUNT_EMAIL_NOTIFICATIONS = True
    client.force_login(alice)
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": "brand-new-passphrase", "password2": "brand-new-passphrase"},
        HTTP_USER_AGENT="TestBrowser/1.0",
    )
    assert response.status_code == 302, response.content
    message = mailoutbox[-1]
    assert message.subject == "[MoodSaaS] Your password was changed"
    text, html = _parts(message)
    assert HEADER in html
    assert "TestBrowser/1.0" in text and "TestBrowser/1.0" in html


def _invite(client, *, language: str = "en", email: str = "dana@a.test", role: str = "agent"):
    return client.post(
        "/api/v1/invitations/", {"email": email, "role": role}, format="json", HTTP_ACCEPT_LANGUAGE=language
    )


def test_the_invitation_has_both_parts_names_the_company_and_its_link_opens_the_invitation(
    alice_client, alice, company_a, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    company_a.time_zone = "Europe/Madrid"
    company_a.save(update_fields=["time_zone"])
    with django_capture_on_commit_callbacks(execute=True):
        assert _invite(alice_client).status_code == 201
    message = mailoutbox[0]
    assert message.subject == "[MoodSaaS] You are invited to join Acme Support on MoodSaaS"
    assert message.to == ["dana@a.test"]
    text, html = _parts(message)
    assert text.startswith("MoodSaaS · Acme Support\n")
    assert HEADER in html and "· Acme Support" in html and 'lang="en"' in html
    assert "alice@a.test invited you to join Acme Support as agent." in text
    invitation = Invitation.objects.for_company(company_a).get(email="dana@a.test")
    local = invitation.expires_at.astimezone(ZoneInfo("Europe/Madrid"))
    assert f"expires on {date_format(local, 'DATETIME_FORMAT')} (Europe/Madrid)" in text
    link = _link(text, html, "/invitations/")
    page = Client().get(link)
    assert page.status_code == 200
    assert b"Acme Support" in page.content


def test_the_invitation_is_in_the_inviters_language(
    alice_client, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        assert _invite(alice_client, language="es").status_code == 201
    _text, html = _parts(mailoutbox[0])
    assert 'lang="es"' in html


def test_accepting_the_mailed_invitation_makes_a_member(
    alice_client, company_a, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        _invite(alice_client, email="erin@a.test", role="admin")
    text, html = _parts(mailoutbox[0])
    link = _link(text, html, "/invitations/")
    erin = User.objects.create_user("erin@a.test", "erin-passphrase-123")
    client = Client()
    client.force_login(erin)
    assert client.post(link).status_code == 302
    assert Membership.objects.for_company(company_a).get(user=erin).role == Role.ADMIN


ACCOUNT_PREFIXES = [
    "email_confirmation_signup",
    "email_confirmation",
    "password_reset_key",
    "password_reset_code",
    "login_code",
    "unknown_account",
    "account_already_exists",
    "password_changed",
    "password_set",
    "password_reset",
    "email_changed",
    "email_deleted",
]


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("prefix", ACCOUNT_PREFIXES)
def test_every_account_e_mail_renders_both_parts_in_the_readers_language(prefix: str, language: str) -> None:
    context: dict[str, Any] = {
        "email": "dana@a.test",
        "activate_url": "https://moodsaas.example/accounts/confirm-email/KEY/",
        "password_reset_url": "https://moodsaas.example/accounts/password/reset/key/1-abc/",
        "signup_url": "https://moodsaas.example/accounts/signup/",
        "code": "ABC-123" if prefix.endswith("_code") else "",
        "timestamp": datetime(2026, 5, 4, 10, 30, tzinfo=UTC),
        "ip": "203.0.113.9",
        "user_agent": "TestBrowser/1.0",
        "from_email": "old@a.test",
        "to_email": "new@a.test",
        "deleted_email": "gone@a.test",
    }
    with translation.override(language):
        subject = render_to_string(f"account/email/{prefix}_subject.txt", context).strip()
        text = render_to_string(f"account/email/{prefix}_message.txt", context)
        html = render_to_string(f"account/email/{prefix}_message.html", context)
    assert subject and "\n" not in subject
    assert text.startswith("MoodSaaS\n====")
    assert f'<html lang="{language}">' in html and HEADER in html
    assert "{%" not in text + html and "{{" not in text + html
    for url in ("activate_url", "password_reset_url", "signup_url"):
        if context[url] in text:
            assert f'href="{context[url]}"' in html


def test_the_invitation_templates_render_in_spanish_with_a_spanish_date(company_a: Company, alice: User) -> None:
    invitation = Invitation(
        company=company_a,
        email="dana@a.test",
        role=Role.AGENT,
        invited_by=alice,
        expires_at=datetime(2026, 12, 9, 8, 4, tzinfo=UTC),
    )
    context = {
        "company": company_a,
        "invitation": invitation,
        "inviter": alice,
        "link": "https://x/i/s/",
        "time_zone": "UTC",
    }
    with translation.override("es"):
        html = render_to_string("email/invitation.html", context)
        text = render_to_string("email/invitation.txt", context)
    assert '<html lang="es">' in html and "Acme Support" in html
    assert "https://x/i/s/" in text
    assert "9 de diciembre de 2026 a las 08:04 (UTC)" in text
