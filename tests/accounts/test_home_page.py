"""The front door ("/") and the company page ("/company/"): company, members, switcher."""

from __future__ import annotations

from accounts.models import Membership, Role
from accounts.tenancy import ACTIVE_COMPANY_SESSION_KEY


def test_anonymous_visitors_get_the_landing_page_and_the_company_page_sends_them_to_sign_in(client, db) -> None:
    assert client.get("/").status_code == 200
    response = client.get("/company/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/company/"


def test_members_of_a_company_are_sent_from_the_front_door_to_the_portal(client, bob) -> None:
    client.force_login(bob)
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, "/app/")


def test_bob_sees_his_company_and_colleagues_but_no_admin_panels(client, bob, alice, charlie) -> None:
    client.force_login(bob)
    html = client.get("/company/").content.decode()
    assert "Acme Support" in html
    assert "alice@a.test" in html
    assert "owner@a.test" in html
    assert "charlie@b.test" not in html
    assert "Bravo Care" not in html
    assert "Pending invitations" not in html
    assert "Switch company" not in html  # only one company


def test_alice_sees_pending_invitations_and_tokens(client, alice, token_a) -> None:
    client.force_login(alice)
    html = client.get("/company/").content.decode()
    assert "Pending invitations" in html
    assert token_a.token.display_prefix in html
    assert token_a.secret not in html


def test_a_member_of_two_companies_switches_between_them(client, alice, company_a, company_b, charlie) -> None:
    Membership.unscoped_objects.create(user=alice, company=company_b, role=Role.AGENT)
    client.force_login(alice)
    html = client.get("/company/").content.decode()
    assert "Switch company" in html
    assert str(company_b.public_id) in html
    response = client.post("/switch-company/", {"company": str(company_b.public_id)})
    assert response.status_code == 302
    html = client.get("/company/").content.decode()
    assert "charlie@b.test" in html
    assert "You are now working in Bravo Care." in html


def test_charlie_cannot_switch_into_company_a_from_the_page(client, charlie, company_a, company_b, nothing_written):
    client.force_login(charlie)
    client.get("/company/")
    with nothing_written():
        response = client.post("/switch-company/", {"company": str(company_a.public_id)})
        garbage = client.post("/switch-company/", {"company": "nope"})
    assert response.status_code == 404
    assert garbage.status_code == 404
    assert client.session[ACTIVE_COMPANY_SESSION_KEY] == str(company_b.public_id)


def test_a_user_without_a_company_is_told_so(client, db) -> None:
    from tests.factories import UserFactory

    client.force_login(UserFactory.create())
    assert "You are not a member of any company" in client.get("/").content.decode()


def test_the_home_page_takes_a_fixed_number_of_queries(
    client, alice, company_a, token_a, django_assert_num_queries
) -> None:
    from tests.factories import MembershipFactory

    client.force_login(alice)
    client.get("/company/")
    # session, user, tenant (its memberships also feed the header's switcher), members, invitations, tokens
    with django_assert_num_queries(6):
        client.get("/company/")
    for _ in range(10):
        MembershipFactory.create(company=company_a)
    with django_assert_num_queries(6):
        html = client.get("/company/").content.decode()
    assert html.count('<tr class="member">') == 12
