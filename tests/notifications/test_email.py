"""E-mail notifications, received by a real SMTP server on loopback (aiosmtpd) and parsed."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from accounts.models import Actor, Company, Role, User
from evaluations.models import EvaluationSession
from notifications import actions, fanout, tasks
from notifications.models import DeliveryStatus, EmailDelivery, Preference
from notifications.selectors import preference_for
from tests.notifications.conftest import Inbox, feed, finish, frames, free_port, parts, set_threshold

pytestmark = pytest.mark.django_db


def unsubscribe_link(message: Any) -> str:
    return str(message["List-Unsubscribe"]).strip()[1:-1]


def graded(session: EvaluationSession, emotion: str, committed: Any) -> EvaluationSession:
    feed(session, frames(emotion, seconds=5))
    finished: EvaluationSession = committed(finish, session)
    return finished


def test_an_agent_receives_their_own_session_result_with_both_parts_and_one_click_headers(
    smtp: Inbox, bob_session: EvaluationSession, bob: User, alice: User, committed: Any
) -> None:
    graded(bob_session, "happy", committed)
    (message,) = smtp.messages
    assert message["To"] == "bob@a.test"
    assert message["Subject"] == "[MoodSaaS] Session graded A"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = str(message["List-Unsubscribe"]).strip()  # a long header may be folded
    assert unsubscribe.startswith("<https://moodsaas.example/unsubscribe/") and unsubscribe.endswith("/>")
    text, html = parts(message)
    link = f"https://moodsaas.example/app/sessions/{bob_session.public_id}/"
    assert "A session was graded" in text and link in text and unsubscribe[1:-1] in text
    assert "Acme Support" in text
    assert f'href="{link}"' in html and ">A</span>" in html and 'lang="en"' in html
    delivery = EmailDelivery.objects.for_company(bob_session.company).get()
    assert (delivery.status, delivery.attempts, delivery.user) == (DeliveryStatus.SENT, 1, bob)
    assert delivery.message_id == message["Message-ID"]


def test_a_d_or_f_session_also_sends_an_alert(smtp: Inbox, bob_session: EvaluationSession, committed: Any) -> None:
    set_threshold(bob_session.company, 600)
    graded(bob_session, "angry", committed)
    subjects = sorted(m["Subject"] for m in smtp.to("bob@a.test"))
    assert subjects == ["[MoodSaaS] Alert: a session ended with F", "[MoodSaaS] Session graded F"]


def test_a_sustained_negative_episode_emails_the_agent_while_the_session_runs(
    smtp: Inbox, bob_session: EvaluationSession, committed: Any
) -> None:
    committed(feed, bob_session, frames("fear", start=62, seconds=25))
    (message,) = smtp.messages
    assert message["Subject"] == "[MoodSaaS] Alert: a customer is upset in a session that is still running"
    text, _html = parts(message)
    assert "fear for 20 seconds in a row (from 1:02 to 1:22 into the session)" in text
    assert "(running grade)" in text


def test_the_email_is_written_in_the_recipients_language(
    smtp: Inbox, bob_session: EvaluationSession, bob: User, committed: Any
) -> None:
    bob.language = "es"
    bob.save()
    graded(bob_session, "happy", committed)
    _, html = parts(smtp.messages[0])
    assert 'lang="es"' in html


def test_admins_hear_about_everyones_sessions_only_once_they_opt_in(
    smtp: Inbox, bob: User, alice: User, owner: User, company_a: Company, committed: Any
) -> None:
    from tests.notifications.conftest import start

    graded(start(bob, company_a), "happy", committed)
    assert smtp.to("alice@a.test") == []
    actions.update_preferences(
        actor=Actor(user=alice, role=Role.ADMIN), company=company_a, changes={"scope": "company"}
    )
    graded(start(bob, company_a), "happy", committed)
    assert len(smtp.to("alice@a.test")) == 1
    assert smtp.to("owner@a.test") == []
    _, html = parts(smtp.to("alice@a.test")[0])
    assert "you chose to hear about every session of the company" in html


def test_an_agent_cannot_follow_the_whole_company(bob: User, company_a: Company, nothing_written: Any) -> None:
    from accounts.exceptions import ActionForbidden

    with nothing_written(Preference), pytest.raises(ActionForbidden):
        actions.update_preferences(
            actor=Actor(user=bob, role=Role.AGENT), company=company_a, changes={"scope": "company"}
        )


def test_one_click_unsubscribe_from_the_received_message_works_without_signing_in(
    smtp: Inbox, bob_session: EvaluationSession, bob: User, company_a: Company, committed: Any
) -> None:
    graded(bob_session, "happy", committed)
    url = unsubscribe_link(smtp.messages[0])
    path = urlsplit(url).path
    # What a mail provider does for RFC 8058: a POST with this body, no cookies, no CSRF token.
    response = Client(enforce_csrf_checks=True).post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    preference = preference_for(company_a, bob)
    assert (preference.session_results, preference.alerts) == (False, True)
    # The next result is not e-mailed; its alert still is.
    from tests.notifications.conftest import start

    set_threshold(company_a, 600)
    graded(start(bob, company_a), "angry", committed)
    assert [m["Subject"] for m in smtp.messages[1:]] == ["[MoodSaaS] Alert: a session ended with F"]
    # The footer link of the alert unsubscribes from alerts.
    text, _ = parts(smtp.messages[1])
    assert unsubscribe_link(smtp.messages[1]) in text


def test_the_unsubscribe_link_asks_before_it_unsubscribes(
    smtp: Inbox, bob_session: EvaluationSession, bob: User, company_a: Company, committed: Any, nothing_written: Any
) -> None:
    graded(bob_session, "happy", committed)
    path = urlsplit(unsubscribe_link(smtp.messages[0])).path
    with nothing_written(Preference):
        response = Client().get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Stop e-mailing bob@a.test about session results from Acme Support?" in page
    assert '<form method="post">' in page


@pytest.mark.parametrize("token", ["nonsense", "W1szLDQsImFsZXJ0cyJd:forged:signature"])
def test_a_damaged_or_forged_unsubscribe_link_is_a_404_and_writes_nothing(
    token: str, bob: User, nothing_written: Any
) -> None:
    with nothing_written(Preference):
        response = Client().post(f"/unsubscribe/{token}/", "List-Unsubscribe=One-Click", content_type="text/plain")
    assert response.status_code == 404


def test_a_link_for_another_company_membership_is_a_404(bob: User, company_b: Company, nothing_written: Any) -> None:
    from notifications.unsubscribe import make_token

    with nothing_written(Preference):
        response = Client().post(f"/unsubscribe/{make_token(bob.pk, company_b.pk, 'alerts')}/")
    assert response.status_code == 404


def test_a_repeated_task_or_fan_out_sends_nothing_twice(
    smtp: Inbox, bob_session: EvaluationSession, committed: Any
) -> None:
    graded(bob_session, "happy", committed)
    delivery = EmailDelivery.objects.for_company(bob_session.company).get()
    committed(tasks.send_email, delivery.company_id, delivery.pk)
    committed(fanout.dispatch, delivery.company_id, delivery.event_id)
    assert len(smtp.messages) == 1
    assert EmailDelivery.objects.for_company(bob_session.company).count() == 1


def test_an_smtp_server_that_is_down_leaves_the_email_for_a_retry_then_gives_up(
    settings: Any, bob_session: EvaluationSession, committed: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", free_port(), False
    graded(bob_session, "happy", committed)
    delivery = EmailDelivery.objects.for_company(bob_session.company).get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at is not None
    assert "ConnectionRefusedError" in delivery.error
    for _ in range(3):
        tasks.send_email(delivery.company_id, delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 4)
