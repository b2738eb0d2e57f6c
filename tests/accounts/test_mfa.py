"""Two-factor authentication (allauth.mfa): TOTP and recovery codes at sign-in, the pages that turn
it on and off, and a company's requirement for its owners and admins (accounts.mfa).

TOTP codes are computed from the secret by tests/totp.py (RFC 6238), independently of allauth's own
implementation.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.core import mail
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import AuditEvent, Company, User
from tests.factories import PASSWORD
from tests.totp import fresh_code, rfc6238

NothingWritten = Callable[..., AbstractContextManager[None]]
SETUP = "/accounts/2fa/totp/activate/"


def test_the_rfc6238_helper_matches_the_rfcs_own_test_vector() -> None:
    # RFC 6238 appendix B, SHA-1: secret "12345678901234567890", T = 59 s -> 94287082 (8 digits).
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert rfc6238(secret, at=59, digits=8) == "94287082"
    assert rfc6238(secret, at=1111111109, digits=8) == "07081804"


def with_totp(user: User) -> str:
    """Turn TOTP on for ``user`` (as the activation page does); return the secret."""
    secret = str(generate_totp_secret())
    TOTP.activate(user, secret)
    return secret


def password_step(client: Client, user: User) -> None:
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")


def reauthenticate(client: Client) -> None:
    """Confirm the password again: allauth asks for it before two-factor settings change."""
    response = client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    assert response.status_code == 302


def signed_in(client: Client) -> bool:
    return client.get(reverse("portal")).status_code == 200


# --- Signing in ---------------------------------------------------------------------------------


def test_signing_in_with_totp_on_asks_for_the_apps_code_after_the_password(alice: User) -> None:
    secret = with_totp(alice)
    client = Client()
    password_step(client, alice)
    assert not signed_in(client)  # the password alone is not enough
    page = client.get(reverse("mfa_authenticate"))
    assert page.status_code == 200
    assert "Enter the six-digit code from your authenticator app." in page.content.decode()

    wrong = client.post(reverse("mfa_authenticate"), {"code": "000000" if rfc6238(secret) != "000000" else "111111"})
    assert wrong.status_code == 200
    assert "Incorrect code." in wrong.content.decode()
    assert not signed_in(client)

    response = client.post(reverse("mfa_authenticate"), {"code": fresh_code(secret)})
    assert response.status_code == 302
    assert signed_in(client)


def test_a_code_is_accepted_only_once(alice: User) -> None:
    secret = with_totp(alice)
    code = fresh_code(secret)
    first = Client()
    password_step(first, alice)
    assert first.post(reverse("mfa_authenticate"), {"code": code}).status_code == 302
    second = Client()
    password_step(second, alice)
    replay = second.post(reverse("mfa_authenticate"), {"code": code})
    assert replay.status_code == 200 and not signed_in(second)


def test_a_recovery_code_signs_in_once_in_place_of_the_apps_code(alice: User) -> None:
    with_totp(alice)
    codes = RecoveryCodes.activate(alice).get_unused_codes()
    assert len(codes) == 10
    client = Client()
    password_step(client, alice)
    assert client.post(reverse("mfa_authenticate"), {"code": codes[0]}).status_code == 302
    assert signed_in(client)
    rc = Authenticator.objects.get(user=alice, type=Authenticator.Type.RECOVERY_CODES).wrap()
    assert codes[0] not in rc.get_unused_codes() and len(rc.get_unused_codes()) == 9

    again = Client()
    password_step(again, alice)
    assert again.post(reverse("mfa_authenticate"), {"code": codes[0]}).status_code == 200
    assert not signed_in(again)


def test_signing_in_without_totp_asks_for_no_code(bob: User) -> None:
    client = Client()
    response = client.post(reverse("account_login"), {"login": bob.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] != reverse("mfa_authenticate")
    assert signed_in(client)


# --- The pages ----------------------------------------------------------------------------------


# Transactional: allauth sends its e-mail on commit, while the request is still being answered.
@pytest.mark.django_db(transaction=True)
def test_a_person_turns_totp_on_with_a_code_from_the_app_and_gets_recovery_codes(alice: User) -> None:
    client = Client()
    client.force_login(alice)
    index = client.get(reverse("mfa_index")).content.decode()
    assert "Set up an authenticator app" in index and reverse("mfa_activate_totp") in index
    # Turning two-factor on asks for the password again first.
    asked = client.get(reverse("mfa_activate_totp"))
    assert asked.status_code == 302 and asked["Location"].startswith(reverse("account_reauthenticate"))
    reauthenticate(client)

    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'src="data:image/svg+xml;base64,' in html
    secret = re.search(r'id="authenticator_secret" value="([A-Z2-7]+)"', html)
    assert secret, "the setup key is on the page"
    wrong = client.post(reverse("mfa_activate_totp"), {"code": "12345"})
    assert wrong.status_code == 200 and not Authenticator.objects.filter(user=alice).exists()

    response = client.post(reverse("mfa_activate_totp"), {"code": fresh_code(secret[1])})
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_view_recovery_codes")
    assert set(Authenticator.objects.filter(user=alice).values_list("type", flat=True)) == {"totp", "recovery_codes"}
    codes = client.get(response["Location"]).content.decode()
    unused = Authenticator.objects.get(user=alice, type="recovery_codes").wrap().get_unused_codes()
    assert all(code in codes for code in unused)
    # The person is told by e-mail, in our words.
    assert mail.outbox[-1].subject.endswith("Two-factor authentication was turned on")
    assert alice.email in mail.outbox[-1].to

    index = client.get(reverse("mfa_index")).content.decode()
    assert "10 unused codes left." in index and reverse("mfa_deactivate_totp") in index


def test_a_person_turns_totp_off_again(alice: User) -> None:
    with_totp(alice)
    RecoveryCodes.activate(alice)
    client = Client()
    password_step(client, alice)
    assert client.post(reverse("mfa_authenticate"), {"code": fresh_code(secret_of(alice))}).status_code == 302
    reauthenticate(client)
    assert client.get(reverse("mfa_deactivate_totp")).status_code == 200
    response = client.post(reverse("mfa_deactivate_totp"))
    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=alice).exists()  # the recovery codes go with it


def secret_of(user: User) -> str:
    from allauth.mfa.utils import decrypt

    return str(decrypt(Authenticator.objects.get(user=user, type="totp").data["secret"]))


def test_the_portal_header_links_to_the_two_factor_page(bob: User) -> None:
    client = Client()
    client.force_login(bob)
    assert f'href="{reverse("mfa_index")}"' in client.get(reverse("portal")).content.decode()


def test_the_two_factor_pages_speak_spanish(alice: User) -> None:
    alice.language = "es"
    alice.save(update_fields=["language"])
    client = Client()
    client.force_login(alice)
    html = client.get(reverse("mfa_index")).content.decode()
    assert "Verificación en dos pasos" in html and "Configurar una app de autenticación" in html
    assert "Two-factor authentication" not in html


# --- The company's requirement ------------------------------------------------------------------


@pytest.fixture
def required(company_a: Company) -> Company:
    company_a.mfa_required_for_admins = True
    company_a.save(update_fields=["mfa_required_for_admins"])
    return company_a


def test_an_admin_without_mfa_is_sent_to_set_it_up_from_every_portal_page(required: Company, alice: User) -> None:
    client = Client()
    client.force_login(alice)
    for path in ("/", "/app/", "/app/sessions/", "/app/settings/", "/live/", "/company/", "/app/settings/audit/"):
        response = client.get(path)
        assert (response.status_code, response["Location"]) == (302, SETUP), path
    setup = client.get(SETUP, follow=True)  # allauth re-asks for the password first: a page of /accounts/
    assert setup.status_code == 200
    assert "Your company requires two-factor authentication for owners and admins." in setup.content.decode()
    # What stays open: allauth's account pages, static files, the health check, signing out.
    for path in ("/accounts/2fa/", "/accounts/password/change/", "/accounts/email/", "/healthz"):
        assert client.get(path).status_code == 200, path
    assert client.get("/static/frontend/site.css").status_code != 302  # whitenoise's, or a 404 without DEBUG
    assert client.post(reverse("account_logout")).status_code == 302
    assert client.get("/app/").status_code == 302 and client.get("/app/")["Location"].startswith("/accounts/login/")


def test_the_owner_is_held_to_it_too_and_released_once_totp_is_on(required: Company, owner: User) -> None:
    client = Client()
    client.force_login(owner)
    assert client.get("/app/")["Location"] == SETUP
    with_totp(owner)
    assert client.get("/app/").status_code == 200


def test_an_agent_is_not_held_to_the_admins_requirement(required: Company, bob: User) -> None:
    client = Client()
    client.force_login(bob)
    assert client.get("/app/").status_code == 200
    assert client.get("/live/").status_code == 200
    api = APIClient()
    api.force_login(bob)
    assert api.get("/api/v1/company/").status_code == 200


def test_an_admins_signed_in_api_calls_get_403_mfa_required_until_totp_is_on(
    required: Company, alice: User, nothing_written: NothingWritten
) -> None:
    api = APIClient()
    api.force_login(alice)
    with nothing_written():
        for response in (api.get("/api/v1/company/"), api.patch("/api/v1/company/", {"name": "X"}, format="json")):
            assert response.status_code == 403
            assert response.json()["code"] == "mfa_required"
            assert "two-factor authentication" in response.json()["detail"]
    with_totp(alice)
    assert api.get("/api/v1/company/").status_code == 200


def test_api_tokens_are_not_people_and_are_not_held_to_it(required: Company, alice: User, token_a_client) -> None:
    assert token_a_client.get("/api/v1/company/").status_code == 200
    assert token_a_client.get("/api/v1/sessions/").status_code == 200


def test_the_requirement_follows_the_company_acted_for(required: Company, alice: User, company_b: Company) -> None:
    from tests.factories import MembershipFactory

    MembershipFactory.create(user=alice, company=company_b, role="admin")
    client = Client()
    client.force_login(alice)
    assert client.get("/app/")["Location"] == SETUP
    # The company switcher stays open; company B does not require it.
    response = client.post(reverse("switch-company-page"), {"company": str(company_b.public_id)})
    assert response.status_code == 302
    assert client.get("/app/").status_code == 200


# --- The setting --------------------------------------------------------------------------------


def test_an_admin_requires_mfa_on_the_settings_page_through_the_audited_action(alice: User, company_a: Company) -> None:
    client = Client()
    client.force_login(alice)
    page = client.get(reverse("portal-settings")).content.decode()
    assert 'name="mfa_required_for_admins"' in page
    data = {
        "name": company_a.name,
        "time_zone": company_a.time_zone,
        "retention_days": company_a.retention_days,
        "consent_notice": company_a.consent_notice,
        "frame_retention_days": company_a.frame_retention_days,
        "mfa_required_for_admins": "on",
    }
    response = client.post(reverse("portal-settings"), data)
    assert response.status_code == 302
    company_a.refresh_from_db()
    assert company_a.mfa_required_for_admins is True
    event = AuditEvent.objects.for_company(company_a).get(action="company.settings_updated")
    assert event.actor_label == "alice@a.test"
    assert event.metadata["changes"] == {"mfa_required_for_admins": {"from": False, "to": True}}
    # Alice has no authenticator app: from now on she is sent to set one up.
    assert client.get(response["Location"])["Location"] == SETUP


def test_the_company_api_reads_and_changes_the_requirement(alice_client, company_a: Company) -> None:
    assert alice_client.get("/api/v1/company/").json()["mfa_required_for_admins"] is False
    response = alice_client.patch("/api/v1/company/", {"mfa_required_for_admins": True}, format="json")
    assert response.status_code == 200 and response.json()["mfa_required_for_admins"] is True
    event = AuditEvent.objects.for_company(company_a).get(action="company.settings_updated")
    assert event.metadata["changes"] == {"mfa_required_for_admins": {"from": False, "to": True}}


def test_an_agent_cannot_change_the_requirement(bob: User, company_a: Company, nothing_written: NothingWritten) -> None:
    api = APIClient()
    api.force_login(bob)
    client = Client()
    client.force_login(bob)
    with nothing_written():
        assert api.patch("/api/v1/company/", {"mfa_required_for_admins": True}, format="json").status_code == 403
        assert client.post(reverse("portal-settings"), {"mfa_required_for_admins": "on"}).status_code == 403


def test_charlie_cannot_change_company_as_requirement(
    charlie: User, company_a: Company, company_b: Company, alice: User, nothing_written: NothingWritten
) -> None:
    client = Client()
    client.force_login(charlie)
    with nothing_written():
        # Company A is not among charlie's: acting for it is a 404.
        switched = client.post(reverse("switch-company-page"), {"company": str(company_a.public_id)})
        assert switched.status_code == 404
    api = APIClient()
    api.force_login(charlie)
    response = api.patch("/api/v1/company/", {"mfa_required_for_admins": True}, format="json")
    # His session acts for company B, the only one he can touch.
    assert response.status_code == 200 and response.json()["id"] == str(company_b.public_id)
    company_a.refresh_from_db()
    assert company_a.mfa_required_for_admins is False
    assert not AuditEvent.objects.for_company(company_a).filter(action="company.settings_updated").exists()
