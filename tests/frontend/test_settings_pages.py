"""Settings pages: company, grading rubric (with its preview), members, invitations, API tokens, audit log."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import actions
from accounts.models import (
    Actor,
    ApiToken,
    AuditEvent,
    Company,
    Invitation,
    Membership,
    Role,
    TokenScope,
    User,
    hash_secret,
)
from evaluations import grading
from evaluations.models import EvaluationSession
from tests.evaluations.conftest import EVALUATION_MODELS
from tests.evaluations.test_preview import graded
from tests.factories import IssuedToken, MembershipFactory, UserFactory
from tests.frontend.conftest import page_client

pytestmark = pytest.mark.django_db

NothingWritten = Callable[..., AbstractContextManager[None]]

PAGES = [
    "portal-settings",
    "portal-settings-rubric",
    "portal-settings-members",
    "portal-settings-invitations",
    "portal-settings-tokens",
    "portal-settings-audit",
]


@pytest.fixture
def owner_page(owner: User) -> Client:
    return page_client(owner)


def membership(company: Company, user: User) -> Membership:
    return Membership.objects.for_company(company).get(user=user)


def member_url(name: str, m: Membership) -> str:
    return reverse(name, kwargs={"member_id": m.public_id})


def invite(company: Company, email: str, role: Role = Role.AGENT) -> Invitation:
    invitation, _secret = actions.invite_member(actor=Actor(), company=company, email=email, role=role)
    return invitation


def audit_actions(company: Company) -> list[str]:
    return list(AuditEvent.objects.for_company(company).order_by("id").values_list("action", flat=True))


def company_form(company: Company, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": company.name,
        "time_zone": company.time_zone,
        "retention_days": company.retention_days,
        "consent_notice": company.consent_notice,
        "frame_retention_days": company.frame_retention_days,
    }
    if company.agent_views_hidden:
        data["agent_views_hidden"] = "on"
    if company.store_frames:
        data["store_frames"] = "on"
    return {**data, **changes}


def rubric_form(intent: str = "save", **changes: Any) -> dict[str, Any]:
    rules = grading.Rubric.from_json(None).to_json()
    data: dict[str, Any] = {f"weight_{e}": w for e, w in rules["weights"].items()}
    data |= {k: v for k, v in rules.items() if k not in ("weights", "exclude_flags")}
    data["exclude_flags"] = rules["exclude_flags"]
    return {**data, **changes, "intent": intent}


# --- Roles and tenancy ------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_admins_and_owners_open_every_settings_page(alice_page: Client, owner_page: Client, name: str) -> None:
    for client in (alice_page, owner_page):
        response = client.get(reverse(name))
        assert response.status_code == 200
        assert 'aria-current="page">' in response.content.decode()


def test_bob_the_agent_gets_403_on_every_settings_page_and_post(
    bob_page: Client, company_a: Company, alice: User, bob: User, token_a: IssuedToken, nothing_written: NothingWritten
) -> None:
    invitation = invite(company_a, "new@a.test")
    alices = membership(company_a, alice)
    posts = [
        (reverse("portal-settings"), company_form(company_a, name="Bob's company")),
        (reverse("portal-settings-rubric"), rubric_form(weight_happy=0)),
        (reverse("portal-settings-rubric"), rubric_form("preview")),
        (member_url("portal-settings-member-role", alices), {"role": "agent"}),
        (member_url("portal-settings-member-remove", alices), {}),
        (reverse("portal-settings-invitations"), {"email": "friend@a.test", "role": "agent"}),
        (reverse("portal-settings-invitation-revoke", kwargs={"invitation_id": invitation.public_id}), {}),
        (reverse("portal-settings-tokens"), {"name": "mine", "scope": "read_write"}),
        (reverse("portal-settings-token-revoke", kwargs={"token_id": token_a.token.public_id}), {}),
    ]
    with nothing_written(*EVALUATION_MODELS):
        for name in PAGES:
            assert bob_page.get(reverse(name)).status_code == 403, name
        for url, data in posts:
            assert bob_page.post(url, data).status_code == 403, url


def test_the_settings_link_is_in_the_nav_of_admins_only(alice_page: Client, bob_page: Client) -> None:
    link = f'href="{reverse("portal-settings")}"'
    assert link in alice_page.get(reverse("portal")).content.decode()
    assert link not in bob_page.get(reverse("portal")).content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(client: Client, db: None) -> None:
    for name in PAGES:
        response = client.get(reverse(name))
        assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_an_api_token_does_not_open_the_settings_pages(token_a: IssuedToken) -> None:
    client = Client(HTTP_AUTHORIZATION=token_a.header)
    response = client.get(reverse("portal-settings-tokens"))
    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_charlie_gets_404_on_company_a_ids_and_nothing_is_written(
    charlie_page: Client,
    company_a: Company,
    alice: User,
    bob: User,
    token_a: IssuedToken,
    nothing_written: NothingWritten,
) -> None:
    invitation = invite(company_a, "new@a.test")
    bobs, alices = membership(company_a, bob), membership(company_a, alice)
    with nothing_written():
        assert charlie_page.post(member_url("portal-settings-member-role", bobs), {"role": "owner"}).status_code == 404
        assert charlie_page.post(member_url("portal-settings-member-remove", alices)).status_code == 404
        revoke = reverse("portal-settings-invitation-revoke", kwargs={"invitation_id": invitation.public_id})
        assert charlie_page.post(revoke).status_code == 404
        token = reverse("portal-settings-token-revoke", kwargs={"token_id": token_a.token.public_id})
        assert charlie_page.post(token).status_code == 404
    pages = "".join(charlie_page.get(reverse(name)).content.decode() for name in PAGES)
    for secret_of_a in ("alice@a.test", "new@a.test", token_a.token.display_prefix, "Acme Support"):
        assert secret_of_a not in pages


# --- Company ----------------------------------------------------------------------------------


def test_an_admin_changes_the_company_settings_through_the_audited_action(
    alice_page: Client, company_a: Company
) -> None:
    data = company_form(
        company_a,
        name="Acme Care",
        time_zone="Europe/Madrid",
        retention_days=30,
        consent_notice="We read facial expressions to grade our service.",
        agent_views_hidden="on",
    )
    response = alice_page.post(reverse("portal-settings"), data)
    assert response.status_code == 302
    company_a.refresh_from_db()
    assert (company_a.name, company_a.time_zone, company_a.retention_days) == ("Acme Care", "Europe/Madrid", 30)
    assert company_a.consent_notice == "We read facial expressions to grade our service."
    assert company_a.agent_views_hidden is True
    event = AuditEvent.objects.for_company(company_a).get(action="company.settings_updated")
    assert event.actor_label == "alice@a.test"
    assert event.metadata["changes"]["retention_days"] == {"from": 90, "to": 30}
    page = alice_page.get(response["Location"]).content.decode()
    assert "The company settings are saved." in page
    assert '<option value="Europe/Madrid" selected>' in page


def test_company_settings_errors_are_shown_next_to_their_fields(
    alice_page: Client, company_a: Company, nothing_written: NothingWritten
) -> None:
    with nothing_written():
        response = alice_page.post(
            reverse("portal-settings"),
            company_form(company_a, name="  ", time_zone="Mars/Olympus_Mons", retention_days=0),
        )
    assert response.status_code == 400
    form = response.context["form"]
    assert set(form.errors) == {"name", "time_zone", "retention_days"}
    body = response.content.decode()
    assert 'id="id_retention_days_error"' in body and 'aria-invalid="true"' in body
    assert "Ensure this value is greater than or equal to 1." in body


def test_saving_unchanged_settings_writes_nothing(
    alice_page: Client, company_a: Company, nothing_written: NothingWritten
) -> None:
    with nothing_written():
        response = alice_page.post(reverse("portal-settings"), company_form(company_a), follow=True)
    assert "Nothing to save" in response.content.decode()


def test_the_owner_switches_frame_storage_on_with_its_retention_and_it_is_audited(
    owner_page: Client, company_a: Company
) -> None:
    body = owner_page.get(reverse("portal-settings")).content.decode()
    assert "camera images are analysed and discarded" in body
    assert 'name="store_frames"' in body and 'name="frame_retention_days"' in body
    assert "saved on your company&#x27;s MoodSaaS server" in body and "agents their own sessions" in body

    response = owner_page.post(
        reverse("portal-settings"), company_form(company_a, store_frames="on", frame_retention_days=14), follow=True
    )

    assert "The company settings are saved." in response.content.decode()
    company_a.refresh_from_db()
    assert company_a.store_frames is True and company_a.frame_retention_days == 14
    event = AuditEvent.objects.for_company(company_a).get(action="company.settings_updated")
    assert event.actor_label == "owner@a.test"
    assert set(event.metadata["changes"]) == {"store_frames", "frame_retention_days"}
    assert "kept for 14 days for your own review" in owner_page.get(reverse("portal-settings")).content.decode()


def test_an_admin_sees_frame_storage_but_cannot_change_it(
    alice_page: Client, company_a: Company, nothing_written: NothingWritten
) -> None:
    body = alice_page.get(reverse("portal-settings")).content.decode()
    assert "Only an owner can change whether camera images are stored, or for how long." in body
    for name in ("store_frames", "frame_retention_days"):
        assert re.search(rf'<input[^>]*name="{name}"[^>]*disabled', body), name
    with nothing_written():
        response = alice_page.post(
            reverse("portal-settings"), company_form(company_a, store_frames="on", frame_retention_days=300)
        )
    assert response.status_code == 302  # nothing to save: disabled fields keep their values
    company_a.refresh_from_db()
    assert company_a.store_frames is False and company_a.frame_retention_days == 7


def test_a_stored_image_retention_out_of_bounds_is_refused_on_its_field(
    owner_page: Client, company_a: Company, nothing_written: NothingWritten
) -> None:
    with nothing_written():
        response = owner_page.post(reverse("portal-settings"), company_form(company_a, frame_retention_days=366))
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"frame_retention_days"}


def test_a_company_on_a_legacy_zone_name_still_sees_it_selected(alice_page: Client, company_a: Company) -> None:
    Company.objects.filter(pk=company_a.pk).update(time_zone="US/Eastern")
    body = alice_page.get(reverse("portal-settings")).content.decode()
    assert '<option value="US/Eastern" selected>' in body
    assert '<optgroup label="Europe">' in body and "Europe/Madrid" in body


# --- Grading rubric ---------------------------------------------------------------------------


def test_the_rubric_page_shows_the_companys_rules(alice_page: Client, company_a: Company) -> None:
    company_a.grading_rubric = {"min_usable_frames": 12}
    company_a.save()
    response = alice_page.get(reverse("portal-settings-rubric"))
    form = response.context["form"]
    assert form["min_usable_frames"].value() == 12
    assert form["weight_happy"].value() == 100
    body = response.content.decode()
    assert "differ from the defaults" in body and "Reset to the defaults" in body


def test_saving_a_rubric_keeps_only_what_differs_from_the_defaults(alice_page: Client, company_a: Company) -> None:
    response = alice_page.post(
        reverse("portal-settings-rubric"), rubric_form(weight_happy=80, min_usable_frames=8, exclude_flags=["blurred"])
    )
    assert response.status_code == 302
    company_a.refresh_from_db()
    weights = {**grading.DEFAULT_RUBRIC["weights"], "happy": 80.0}
    assert company_a.grading_rubric == {"weights": weights, "min_usable_frames": 8, "exclude_flags": ["blurred"]}
    assert audit_actions(company_a)[-1] == "company.settings_updated"
    alice_page.post(reverse("portal-settings-rubric"), {"intent": "reset"})
    company_a.refresh_from_db()
    assert company_a.grading_rubric == {}


def test_an_invalid_rubric_shows_the_rubrics_own_message_and_saves_nothing(
    alice_page: Client, company_a: Company, nothing_written: NothingWritten
) -> None:
    with nothing_written(*EVALUATION_MODELS):
        response = alice_page.post(
            reverse("portal-settings-rubric"), rubric_form(weight_happy=150, min_usable_frames=0, interval_seconds=0.1)
        )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["weight_happy"] == ["weights.happy must be a number from 0 to 100"]
    assert errors["min_usable_frames"] == ["min_usable_frames must be between 1 and 100000"]
    assert errors["interval_seconds"] == ["interval_seconds must be between 0.5 and 86400"]
    assert "weights.happy must be a number from 0 to 100" in response.content.decode()


def test_a_rubric_preview_compares_grades_and_writes_nothing(
    alice_page: Client, bob: User, company_a: Company, nothing_written: NothingWritten
) -> None:
    session = graded(bob, company_a, ["happy"] * 8)
    with nothing_written(*EVALUATION_MODELS):
        response = alice_page.post(reverse("portal-settings-rubric"), rubric_form("preview", weight_happy=40))
    assert response.status_code == 200
    (row,) = response.context["preview"].rows
    assert row.session.pk == session.pk
    assert row.proposed.score == pytest.approx(39.3) and session.score == pytest.approx(95.7)
    body = response.content.decode()
    assert "39.3" in body and "95.7" in body
    assert response.context["form"]["weight_happy"].value() == "40"  # the proposal stays in the form


def test_a_preview_of_a_company_without_finished_sessions_says_so(alice_page: Client) -> None:
    response = alice_page.post(reverse("portal-settings-rubric"), rubric_form("preview"))
    assert "No finished session yet" in response.content.decode()


# --- Members ----------------------------------------------------------------------------------


def test_an_admin_changes_an_agents_role_and_removes_a_member(
    alice_page: Client, company_a: Company, bob: User
) -> None:
    bobs = membership(company_a, bob)
    response = alice_page.post(member_url("portal-settings-member-role", bobs), {"role": "admin"})
    assert response.status_code == 302
    assert membership(company_a, bob).role == Role.ADMIN
    assert "bob@a.test is now admin." in alice_page.get(response["Location"]).content.decode()
    response = alice_page.post(member_url("portal-settings-member-remove", bobs))
    assert response.status_code == 302
    assert not Membership.objects.for_company(company_a).filter(user=bob).exists()
    assert audit_actions(company_a)[-2:] == ["member.role_changed", "member.removed"]


def test_alice_the_admin_cannot_grant_or_touch_the_owner_role(
    alice_page: Client, company_a: Company, owner: User, bob: User, nothing_written: NothingWritten
) -> None:
    body = alice_page.get(reverse("portal-settings-members")).content.decode()
    assert '<option value="owner"' not in body
    assert "only owners change owners" in body
    with nothing_written():
        granted = alice_page.post(
            member_url("portal-settings-member-role", membership(company_a, bob)), {"role": "owner"}
        )
        demoted = alice_page.post(
            member_url("portal-settings-member-role", membership(company_a, owner)), {"role": "agent"}
        )
        removed = alice_page.post(member_url("portal-settings-member-remove", membership(company_a, owner)))
    assert granted.status_code == demoted.status_code == removed.status_code == 403
    assert "Only an owner or higher can grant or remove the owner role." in granted.content.decode()
    assert "Only an owner or higher can remove an owner." in removed.content.decode()


def test_the_owner_grants_owner_but_the_last_owner_stays(
    owner_page: Client, company_a: Company, owner: User, alice: User, nothing_written: NothingWritten
) -> None:
    owners = membership(company_a, owner)
    body = owner_page.get(reverse("portal-settings-members")).content.decode()
    assert "the last owner: make someone else an owner first" in body
    with nothing_written():
        demoted = owner_page.post(member_url("portal-settings-member-role", owners), {"role": "admin"})
        removed = owner_page.post(member_url("portal-settings-member-remove", owners))
    assert demoted.status_code == removed.status_code == 409
    assert "The last owner cannot be demoted; make someone else an owner first." in demoted.content.decode()
    assert "The last owner cannot be removed." in removed.content.decode()
    response = owner_page.post(
        member_url("portal-settings-member-role", membership(company_a, alice)), {"role": "owner"}
    )
    assert response.status_code == 302
    assert membership(company_a, alice).role == Role.OWNER


def test_an_unknown_role_is_refused(alice_page: Client, company_a: Company, bob: User, nothing_written: NothingWritten):
    with nothing_written():
        response = alice_page.post(
            member_url("portal-settings-member-role", membership(company_a, bob)), {"role": "boss"}
        )
    assert response.status_code == 400


def test_the_members_list_takes_a_fixed_number_of_queries(alice_page: Client, company_a: Company, bob: User) -> None:
    url = reverse("portal-settings-members")
    alice_page.get(url)
    with CaptureQueriesContext(connection) as few:
        alice_page.get(url)
    for _ in range(10):
        MembershipFactory.create(company=company_a)
    with CaptureQueriesContext(connection) as many:
        response = alice_page.get(url)
    assert len(response.context["rows"]) == 13
    # session, user, tenant membership, the members
    assert len(many) == len(few) == 4


# --- Invitations ------------------------------------------------------------------------------


def test_an_admin_invites_someone_and_sees_the_link_once(alice_page: Client, company_a: Company) -> None:
    response = alice_page.post(reverse("portal-settings-invitations"), {"email": "New@A.test", "role": "agent"})
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    invitation = Invitation.objects.for_company(company_a).get()
    assert (invitation.email, invitation.role) == ("new@a.test", Role.AGENT)
    link = response.context["accept_url"]
    secret = link.rstrip("/").rsplit("/", 1)[1]
    assert invitation.token_hash == hash_secret(secret)
    body = response.content.decode()
    assert f'value="{link}" readonly' in body and 'data-copy="accept-link"' in body
    again = alice_page.get(reverse("portal-settings-invitations")).content.decode()
    assert secret not in again and "new@a.test" in again
    assert audit_actions(company_a)[-1] == "invitation.created"


def test_the_invitation_email_carries_the_link(alice_page: Client, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_page.post(reverse("portal-settings-invitations"), {"email": "new@a.test", "role": "admin"})
    (message,) = mail.outbox
    assert message.to == ["new@a.test"] and response.context["accept_url"] in message.body


def test_only_owners_invite_owners(
    alice_page: Client, owner_page: Client, company_a: Company, nothing_written: NothingWritten
) -> None:
    assert '<option value="owner"' not in alice_page.get(reverse("portal-settings-invitations")).content.decode()
    with nothing_written():
        response = alice_page.post(reverse("portal-settings-invitations"), {"email": "boss@a.test", "role": "owner"})
    assert response.status_code == 403
    assert "Only an owner or higher can invite owners." in response.content.decode()
    assert '<option value="owner"' in owner_page.get(reverse("portal-settings-invitations")).content.decode()
    assert (
        owner_page.post(reverse("portal-settings-invitations"), {"email": "boss@a.test", "role": "owner"}).status_code
        == 201
    )


def test_inviting_a_member_or_someone_already_invited_says_so_next_to_the_address(
    alice_page: Client, company_a: Company, bob: User, nothing_written: NothingWritten
) -> None:
    invite(company_a, "new@a.test")
    with nothing_written():
        member = alice_page.post(reverse("portal-settings-invitations"), {"email": "bob@a.test", "role": "agent"})
        twice = alice_page.post(reverse("portal-settings-invitations"), {"email": "new@a.test", "role": "agent"})
        bad = alice_page.post(reverse("portal-settings-invitations"), {"email": "not an address", "role": "agent"})
    assert member.status_code == twice.status_code == 409 and bad.status_code == 400
    assert member.context["form"].errors["email"] == ["bob@a.test is already a member of Acme Support."]
    assert "already has a pending invitation" in twice.context["form"].errors["email"][0]
    assert "email" in bad.context["form"].errors


def test_pending_invitations_are_listed_and_revoked(alice_page: Client, company_a: Company, alice: User) -> None:
    pending = invite(company_a, "pending@a.test")
    invite(company_a, "expired@a.test")
    Invitation.objects.for_company(company_a).filter(email="expired@a.test").update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    actions.revoke_invitation(actor=Actor(), invitation=invite(company_a, "revoked@a.test"))
    response = alice_page.get(reverse("portal-settings-invitations"))
    assert [i.email for i in response.context["invitations"]] == ["pending@a.test"]
    revoke = reverse("portal-settings-invitation-revoke", kwargs={"invitation_id": pending.public_id})
    response = alice_page.post(revoke)
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status() == "revoked"
    again = alice_page.post(revoke)
    assert again.status_code == 409 and "this one is revoked" in again.content.decode()


# --- API tokens -------------------------------------------------------------------------------


def test_a_new_tokens_secret_is_shown_exactly_once(alice_page: Client, company_a: Company) -> None:
    response = alice_page.post(reverse("portal-settings-tokens"), {"name": "CRM", "scope": "read_write"})
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    secret = response.context["secret"]
    token = ApiToken.objects.for_company(company_a).get(name="CRM")
    assert (token.key_hash, token.scope) == (hash_secret(secret), TokenScope.READ_WRITE)
    assert response.content.decode().count(secret) == 1
    reloaded = alice_page.get(reverse("portal-settings-tokens")).content.decode()
    assert secret not in reloaded
    assert token.display_prefix in reloaded and "CRM" in reloaded
    assert audit_actions(company_a)[-1] == "api_token.created"


def test_a_token_needs_a_name(alice_page: Client, nothing_written: NothingWritten) -> None:
    with nothing_written():
        response = alice_page.post(reverse("portal-settings-tokens"), {"name": " ", "scope": "read"})
    assert response.status_code == 400 and "name" in response.context["form"].errors


def test_a_token_is_revoked_and_listed_with_its_last_use(
    alice_page: Client, company_a: Company, token_a: IssuedToken
) -> None:
    ApiToken.objects.for_company(company_a).filter(pk=token_a.token.pk).update(last_used_at=timezone.now())
    body = alice_page.get(reverse("portal-settings-tokens")).content.decode()
    assert "never" not in body
    response = alice_page.post(reverse("portal-settings-token-revoke", kwargs={"token_id": token_a.token.public_id}))
    assert response.status_code == 302
    token_a.token.refresh_from_db()
    assert token_a.token.revoked_at is not None
    assert "revoked" in alice_page.get(response["Location"]).content.decode()


def test_the_token_list_takes_a_fixed_number_of_queries(alice_page: Client, company_a: Company, alice: User) -> None:
    url = reverse("portal-settings-tokens")
    actions.create_api_token(
        actor=Actor(user=alice, role=Role.ADMIN), company=company_a, name="one", scope=TokenScope.READ
    )
    alice_page.get(url)
    with CaptureQueriesContext(connection) as few:
        alice_page.get(url)
    for n in range(8):
        actions.create_api_token(
            actor=Actor(user=alice, role=Role.ADMIN), company=company_a, name=f"t{n}", scope=TokenScope.READ
        )
    with CaptureQueriesContext(connection) as many:
        response = alice_page.get(url)
    assert len(response.context["tokens"]) == 9
    # session, user, tenant membership, the tokens with their creators
    assert len(many) == len(few) == 4


# --- Audit log --------------------------------------------------------------------------------


def event(company: Company, action: str, actor: str, when: datetime, **metadata: Any) -> AuditEvent:
    return AuditEvent.objects.create(
        company=company,
        actor_label=actor,
        action=action,
        target_type="accounts.company",
        target_id=str(company.public_id),
        metadata=metadata,
        created_at=when,
    )


def test_the_audit_log_lists_who_did_what_to_what(alice_page: Client, company_a: Company, bob: User) -> None:
    actions.update_company_settings(
        actor=Actor(user=bob), company=company_a, changes={"retention_days": 30, "consent_notice": "New notice."}
    )
    response = alice_page.get(reverse("portal-settings-audit"))
    assert response.status_code == 200
    row = response.context["rows"][0]
    assert (row.event.actor_label, row.action, row.target) == ("bob@a.test", "Settings changed", "Company")
    assert row.summary == "retention days: 90 → 30; camera notice changed"
    assert "retention days: 90 → 30" in response.content.decode()


def test_the_audit_log_filters_by_actor_action_and_days_in_the_company_time_zone(
    alice_page: Client, company_a: Company
) -> None:
    company_a.time_zone = "America/New_York"
    company_a.save()
    late_evening = datetime(2026, 3, 10, 3, 30, tzinfo=UTC)  # 9 March, 23:30 in New York
    event(company_a, "member.removed", "alice@a.test", late_evening, email="x@a.test", role="agent")
    event(company_a, "member.removed", "owner@a.test", late_evening + timedelta(hours=1))
    event(company_a, "api_token.created", "alice@a.test", late_evening + timedelta(days=1))

    def listed(**query: str) -> list[tuple[str, str]]:
        response = alice_page.get(reverse("portal-settings-audit"), query)
        assert response.status_code == 200
        return [(r.event.actor_label, r.event.action) for r in response.context["rows"]]

    assert listed(actor="ALICE@a.test", action="member.removed") == [("alice@a.test", "member.removed")]
    assert listed(first="2026-03-09", last="2026-03-09") == [("alice@a.test", "member.removed")]
    assert listed(first="2026-03-10", last="2026-03-10", action="member.removed") == [
        ("owner@a.test", "member.removed")
    ]
    assert listed(first="2026-03-10") == [("alice@a.test", "api_token.created"), ("owner@a.test", "member.removed")]
    response = alice_page.get(reverse("portal-settings-audit"), {"first": "2026-03-10", "last": "2026-03-01"})
    assert "before the first" in response.context["form"].errors["last"][0]
    assert response.context["rows"] == []


def test_the_audit_log_pages_and_keeps_its_filters_in_the_page_links(alice_page: Client, company_a: Company) -> None:
    start = timezone.now() - timedelta(days=1)
    for n in range(60):
        event(company_a, "api_token.revoked", "alice@a.test", start + timedelta(minutes=n), name=f"t{n}")
    response = alice_page.get(reverse("portal-settings-audit"), {"action": "api_token.revoked"})
    assert response.context["page"].paginator.num_pages == 2
    assert "action=api_token.revoked&amp;page=2" in response.content.decode()
    second = alice_page.get(reverse("portal-settings-audit"), {"action": "api_token.revoked", "page": "2"})
    assert len(second.context["rows"]) == 10


def test_the_audit_log_takes_a_fixed_number_of_queries(alice_page: Client, company_a: Company) -> None:
    url = reverse("portal-settings-audit")
    event(company_a, "member.removed", "owner@a.test", timezone.now())
    alice_page.get(url)
    with CaptureQueriesContext(connection) as few:
        alice_page.get(url)
    for n in range(30):
        event(company_a, "member.removed", f"user{n}@a.test", timezone.now(), email=f"user{n}@a.test")
    MembershipFactory.create(company=company_a, user=UserFactory.create())
    with CaptureQueriesContext(connection) as many:
        response = alice_page.get(url)
    assert len(response.context["rows"]) == 31
    # session, user, tenant membership, count, page, and the actor suggestions (members, tokens)
    assert len(many) == len(few) == 7


def test_the_audit_log_never_shows_another_companys_events(
    charlie_page: Client, company_a: Company, alice: User
) -> None:
    event(company_a, "member.removed", "alice@a.test", timezone.now())
    response = charlie_page.get(reverse("portal-settings-audit"), {"actor": "alice@a.test"})
    assert response.context["rows"] == []


def test_a_session_target_links_to_its_page(alice_page: Client, company_a: Company, bob: User) -> None:
    session: EvaluationSession = graded(bob, company_a, ["happy"] * 5)
    response = alice_page.get(reverse("portal-settings-audit"), {"action": "session.finished"})
    assert response.context["rows"][0].target_url == reverse("portal-session", kwargs={"session_id": session.public_id})


# --- The company overview (/company/) ---------------------------------------------------------


def test_the_company_overview_links_admins_to_the_settings_pages(
    alice_page: Client, company_a: Company, token_a: IssuedToken
) -> None:
    invite(company_a, "new@a.test")
    body = alice_page.get(reverse("company")).content.decode()
    for name in PAGES:
        assert f'href="{reverse(name)}"' in body, name
    assert "new@a.test" in body and token_a.token.display_prefix in body and token_a.secret not in body
    assert "90 days" in body and "the default rules" in body


def test_the_company_overview_shows_agents_their_colleagues_and_no_settings(bob_page: Client, alice: User) -> None:
    body = bob_page.get(reverse("company")).content.decode()
    assert "alice@a.test" in body
    for name in PAGES:
        assert f'href="{reverse(name)}"' not in body, name
