"""In-app alerts: the bell's list, marking read, and the live socket /ws/notifications/."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Actor, Company, Role, User
from evaluations.models import EvaluationSession
from notifications import actions
from notifications.models import Notification
from tests.notifications.conftest import feed, frames

ALERTS = "/app/notifications/"


def upset(session: EvaluationSession, committed: Any, start_at: float = 0.0, first: int = 0) -> None:
    committed(feed, session, frames("angry", start=start_at, seconds=22, first=first))


@pytest.mark.django_db
class TestTheList:
    def test_an_agent_sees_the_alert_of_their_session_and_follows_it_to_the_session(
        self, bob_page: Client, bob_session: EvaluationSession, bob: User, committed: Any
    ) -> None:
        upset(bob_session, committed)
        (notification,) = Notification.objects.for_company(bob_session.company).filter(user=bob)
        page = bob_page.get(ALERTS).content.decode()
        assert "A customer has looked upset for 20 seconds in a running session" in page
        assert "1 unread" in page
        response = bob_page.get(f"{ALERTS}{notification.public_id}/")
        assert response.status_code == 302
        assert response["Location"] == f"/app/sessions/{bob_session.public_id}/"
        notification.refresh_from_db()
        assert notification.read_at is not None

    def test_admins_see_others_alerts_only_once_they_follow_the_company(
        self, alice_page: Client, alice: User, bob_session: EvaluationSession, company_a: Company, committed: Any
    ) -> None:
        upset(bob_session, committed)
        assert "No alerts." in alice_page.get(ALERTS).content.decode()
        actions.update_preferences(
            actor=Actor(user=alice, role=Role.ADMIN), company=company_a, changes={"scope": "company"}
        )
        upset(bob_session, committed, start_at=40, first=100)  # a second episode (after a gap)
        assert Notification.objects.for_company(company_a).filter(user=alice).count() == 1

    def test_marking_read_one_and_all(
        self, bob_page: Client, bob_session: EvaluationSession, bob: User, committed: Any
    ) -> None:
        upset(bob_session, committed)
        upset(bob_session, committed, start_at=40, first=100)
        first, second = Notification.objects.for_company(bob_session.company).order_by("created_at")
        assert bob_page.post(f"{ALERTS}{first.public_id}/read/").status_code == 302
        first.refresh_from_db()
        second.refresh_from_db()
        assert first.read_at is not None and second.read_at is None
        assert bob_page.post(f"{ALERTS}read-all/").status_code == 302
        second.refresh_from_db()
        assert second.read_at is not None

    def test_the_list_costs_the_same_queries_however_long_it_is(
        self, bob_page: Client, bob_session: EvaluationSession, committed: Any
    ) -> None:
        upset(bob_session, committed)
        bob_page.get(ALERTS)
        with CaptureQueriesContext(connection) as few:
            bob_page.get(ALERTS)
        for i in range(1, 5):
            upset(bob_session, committed, start_at=40 * i, first=100 * i)
        with CaptureQueriesContext(connection) as many:
            page = bob_page.get(ALERTS).content.decode()
        assert page.count("looked upset for 20 seconds") == 10  # the link and the button's label
        assert len(many) == len(few) <= 8

    @pytest.mark.parametrize("suffix", ["", "read/"])
    def test_someone_elses_alert_is_a_404_and_nothing_is_written(
        self,
        suffix: str,
        alice_page: Client,
        charlie_page: Client,
        bob_session: EvaluationSession,
        committed: Any,
        nothing_written: Any,
    ) -> None:
        upset(bob_session, committed)
        (notification,) = Notification.objects.for_company(bob_session.company)
        path = f"{ALERTS}{notification.public_id}/{suffix}"
        with nothing_written(Notification):
            for page in (charlie_page, alice_page):  # another company; the same company, not hers
                response = page.post(path) if suffix else page.get(path)
                assert response.status_code == 404

    def test_the_bell_is_in_every_portal_page_header(self, bob_page: Client) -> None:
        page = bob_page.get("/app/").content.decode()
        assert 'id="alert-bell"' in page and 'href="/app/notifications/"' in page
        assert "notifications/bell.js" in page

    def test_the_list_needs_a_sign_in(self, client: Client) -> None:
        response = client.get(ALERTS)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
