"""Webhooks against real HTTP receivers on loopback, verified with the reference ``standardwebhooks``
package: signatures, retries with backoff, time-outs, redirects, disabling, rotation, tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Actor, Company, Role, User
from evaluations.models import EvaluationSession
from notifications import actions, sending, tasks, webhooks
from notifications.models import EventType, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookStatus
from tests.notifications.conftest import Inbox, Receiver, feed, finish, frames, set_threshold

pytestmark = pytest.mark.django_db

ADMIN_EVENTS = ["session.finished", "alert.raised"]


def endpoint_for(receiver: Receiver, alice: User, company: Company, events: list[str] | None = None) -> WebhookEndpoint:
    endpoint, secret = actions.create_endpoint(
        actor=Actor(user=alice, role=Role.ADMIN), company=company, url=receiver.url, events=events or ADMIN_EVENTS
    )
    receiver.secrets = [secret]
    return endpoint


def finish_graded(session: EvaluationSession, emotion: str, committed: Any) -> None:
    feed(session, frames(emotion, seconds=5))
    committed(finish, session)


def deliveries(company: Company) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.for_company(company).order_by("created_at", "id"))


def attempts(company: Company) -> list[WebhookAttempt]:
    return list(WebhookAttempt.objects.for_company(company).order_by("delivery_id", "number"))


def retry_now(company: Company, committed: Any) -> None:
    """Let time pass until every waiting delivery is due, and run the sweeper like Celery beat does."""
    WebhookDelivery.objects.for_company(company).filter(status=WebhookStatus.PENDING).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    committed(tasks.sweep)


def test_a_finished_session_reaches_the_receiver_signed_per_the_standard(
    receiver: Receiver, alice: User, company_a: Company, bob_session: EvaluationSession, committed: Any
) -> None:
    endpoint = endpoint_for(receiver, alice, company_a)
    assert receiver.secrets[0].startswith("whsec_")
    finish_graded(bob_session, "happy", committed)
    (request,) = receiver.requests
    assert request.verified == {receiver.secrets[0]: True}
    assert request.path == "/hooks/moodsaas?team=support"
    assert request.headers["content-type"] == "application/json"
    (delivery,) = deliveries(company_a)
    assert request.headers["webhook-id"] == delivery.message_id
    body = request.json
    assert body["type"] == "session.finished" and body["version"] == 1
    assert body["company"] == str(company_a.public_id)
    assert body["data"]["session"]["id"] == str(bob_session.public_id)
    assert body["data"]["session"]["grade"]["letter"] == "A"
    assert (delivery.status, delivery.attempts) == (WebhookStatus.SUCCEEDED, 1)
    (attempt,) = attempts(company_a)
    assert (attempt.status_code, attempt.succeeded, attempt.response_excerpt) == (200, True, "ok")
    endpoint.refresh_from_db()
    assert endpoint.last_success_at is not None and endpoint.consecutive_failures == 0


def test_an_endpoint_gets_only_the_events_it_subscribed_to(
    receiver: Receiver, alice: User, company_a: Company, bob_session: EvaluationSession, committed: Any
) -> None:
    endpoint_for(receiver, alice, company_a, events=["alert.raised"])
    set_threshold(company_a, 600)
    finish_graded(bob_session, "angry", committed)
    assert [r.json["type"] for r in receiver.requests] == ["alert.raised"]
    assert receiver.requests[0].json["data"]["reason"] == "grade"


def test_failures_are_retried_on_the_schedule_with_the_same_message_id_until_one_succeeds(
    receiver: Receiver, alice: User, company_a: Company, bob_session: EvaluationSession, committed: Any
) -> None:
    endpoint_for(receiver, alice, company_a, events=["session.finished"])
    receiver.answers = ["fail", "fail"]
    finish_graded(bob_session, "happy", committed)
    (delivery,) = deliveries(company_a)
    assert delivery.next_attempt_at is not None
    waited = delivery.next_attempt_at - attempts(company_a)[0].started_at
    assert timedelta(seconds=3.9) <= waited <= timedelta(seconds=6.1)  # 5 s ± 20%
    assert delivery.status == WebhookStatus.PENDING
    committed(tasks.sweep)  # not due yet: nothing happens
    assert len(receiver.requests) == 1
    retry_now(company_a, committed)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at is not None
    waited = delivery.next_attempt_at - attempts(company_a)[1].started_at
    assert timedelta(minutes=4) <= waited <= timedelta(minutes=6.1)  # 5 min ± 20%
    retry_now(company_a, committed)
    assert [a.status_code for a in attempts(company_a)] == [500, 500, 200]
    assert attempts(company_a)[0].response_excerpt == '{"error": "the receiver is broken"}'
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert all(r.verified[receiver.secrets[0]] for r in receiver.requests)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookStatus.SUCCEEDED, 3)


def test_a_message_is_given_up_after_the_last_scheduled_attempt(
    receiver: Receiver, alice: User, company_a: Company, bob_session: EvaluationSession, committed: Any
) -> None:
    endpoint_for(receiver, alice, company_a, events=["session.finished"])
    receiver.mode = "fail"
    finish_graded(bob_session, "happy", committed)
    for _ in range(sending.MAX_WEBHOOK_ATTEMPTS + 2):
        retry_now(company_a, committed)
    (delivery,) = deliveries(company_a)
    assert (delivery.status, delivery.attempts) == (WebhookStatus.FAILED, 8)
    assert len(receiver.requests) == 8


def test_a_receiver_that_does_not_answer_in_time_is_a_logged_time_out(
    receiver: Receiver,
    alice: User,
    company_a: Company,
    bob_session: EvaluationSession,
    committed: Any,
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr(webhooks, "READ_TIMEOUT", 0.5)
    endpoint_for(receiver, alice, company_a, events=["session.finished"])
    receiver.mode = "slow"
    finish_graded(bob_session, "happy", committed)
    (attempt,) = attempts(company_a)
    assert (attempt.status_code, attempt.error, attempt.succeeded) == (None, "timed out", False)
    assert 400 <= attempt.duration_ms < 1400
    assert deliveries(company_a)[0].status == WebhookStatus.PENDING


def test_a_redirect_is_never_followed(
    receivers: Any, alice: User, company_a: Company, bob_session: EvaluationSession, committed: Any
) -> None:
    redirecting, elsewhere = receivers(), receivers()
    endpoint_for(redirecting, alice, company_a, events=["session.finished"])
    redirecting.mode = "redirect"
    redirecting.redirect_to = elsewhere.url
    finish_graded(bob_session, "happy", committed)
    assert len(redirecting.requests) == 1 and elsewhere.requests == []
    (attempt,) = attempts(company_a)
    assert attempt.status_code == 302 and not attempt.succeeded
    assert attempt.error.startswith("redirects are not followed (to http://127.0.0.1:")


def test_an_endpoint_that_keeps_failing_is_disabled_and_the_owners_are_emailed(
    smtp: Inbox,
    receiver: Receiver,
    alice: User,
    owner: User,
    bob: User,
    company_a: Company,
    committed: Any,
    monkeypatch: Any,
) -> None:
    from tests.notifications.conftest import start

    monkeypatch.setattr(sending, "DISABLE_AFTER_FAILURES", 3)
    endpoint = endpoint_for(receiver, alice, company_a, events=["session.finished"])
    receiver.mode = "fail"
    finish_graded(start(bob, company_a), "happy", committed)
    finish_graded(start(bob, company_a), "happy", committed)
    retry_now(company_a, committed)  # the third failure in a row
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.consecutive_failures == 3
    assert endpoint.disabled_reason == "3 failed attempts in a row; the last: HTTP 500"
    assert {d.status for d in deliveries(company_a)} == {WebhookStatus.CANCELLED}
    (message,) = smtp.to("owner@a.test")
    assert message["Subject"] == "[MoodSaaS] A webhook endpoint was disabled after failing again and again"
    assert message["List-Unsubscribe"] is None  # about the company's set-up, not a subscription
    assert smtp.to("alice@a.test") == []
    # Nothing more is sent to it, not even by the sweeper.
    finish_graded(start(bob, company_a), "happy", committed)
    retry_now(company_a, committed)
    assert len(receiver.requests) == 3


def test_during_a_rotation_both_secrets_sign_and_afterwards_only_the_new_one(
    receiver: Receiver, alice: User, company_a: Company, committed: Any
) -> None:
    endpoint = endpoint_for(receiver, alice, company_a)
    old = receiver.secrets[0]
    endpoint, new = actions.rotate_secret(actor=Actor(user=alice, role=Role.ADMIN), endpoint=endpoint)
    assert new != old and new.startswith("whsec_")
    receiver.secrets = [old, new]
    committed(actions.send_test_event, actor=Actor(user=alice, role=Role.ADMIN), endpoint=endpoint)
    assert receiver.requests[-1].verified == {old: True, new: True}
    assert len(receiver.requests[-1].headers["webhook-signature"].split(" ")) == 2
    WebhookEndpoint.objects.for_company(company_a).update(previous_secret_expires_at=timezone.now())
    endpoint.refresh_from_db()
    committed(actions.send_test_event, actor=Actor(user=alice, role=Role.ADMIN), endpoint=endpoint)
    assert receiver.requests[-1].verified == {old: False, new: True}


def test_a_test_event_goes_to_that_endpoint_only(
    receivers: Any, alice: User, company_a: Company, committed: Any
) -> None:
    tested, other = receivers(), receivers()
    endpoint = endpoint_for(tested, alice, company_a)
    endpoint_for(other, alice, company_a)
    committed(actions.send_test_event, actor=Actor(user=alice, role=Role.ADMIN), endpoint=endpoint)
    (request,) = tested.requests
    assert request.json["type"] == EventType.WEBHOOK_TEST and other.requests == []


def test_a_url_that_now_resolves_to_a_private_address_is_refused_at_delivery(
    receiver: Receiver, alice: User, company_a: Company, bob_session: EvaluationSession, committed: Any
) -> None:
    endpoint_for(receiver, alice, company_a, events=["session.finished"])
    WebhookEndpoint.objects.for_company(company_a).update(url="https://10.1.2.3/hook")
    finish_graded(bob_session, "happy", committed)
    (attempt,) = attempts(company_a)
    assert attempt.status_code is None
    assert attempt.error == "The host 10.1.2.3 resolves to 10.1.2.3, which is not a public internet address."


# --- Pure parts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://[::1]/hook",
        "https://10.0.0.8/hook",
        "https://192.168.1.1/hook",
        "https://172.16.5.4/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fe80::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "http://93.184.216.34/hook",
        "https://user:pw@93.184.216.34/hook",
        "ftp://93.184.216.34/hook",
        "https:///hook",
    ],
)
def test_urls_that_are_not_on_the_public_internet_are_refused(url: str, settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    with pytest.raises(webhooks.UnsafeURL):
        webhooks.check_url(url)


def test_a_public_https_url_is_accepted_and_pinned_to_the_checked_address() -> None:
    target = webhooks.check_url("https://93.184.216.34:8443/hooks?a=1", allow_loopback=False)
    assert target == webhooks.Target("https", "93.184.216.34", 8443, "93.184.216.34", "/hooks?a=1")


def test_loopback_is_allowed_only_by_the_setting_and_plain_http_only_there() -> None:
    assert webhooks.check_url("http://127.0.0.1:8000/h", allow_loopback=True) is not None
    with pytest.raises(webhooks.UnsafeURL):
        webhooks.check_url("http://127.0.0.1:8000/h", allow_loopback=False)
    with pytest.raises(webhooks.UnsafeURL):
        webhooks.check_url("https://10.0.0.1/h", allow_loopback=True)


def test_the_retry_schedule_spans_about_a_day_with_jitter() -> None:
    total = sum(sending.RETRY_SCHEDULE, timedelta())
    assert timedelta(hours=24) <= total <= timedelta(hours=30)
    assert sending.MAX_WEBHOOK_ATTEMPTS == 8
    assert sending.retry_delay(1, rand=lambda: 0.0) == timedelta(seconds=4)
    assert sending.retry_delay(1, rand=lambda: 1.0) == timedelta(seconds=6)
    assert sending.retry_delay(7, rand=lambda: 0.5) == timedelta(hours=10)


def test_our_signature_is_the_reference_implementations() -> None:
    from datetime import UTC, datetime

    from standardwebhooks.webhooks import Webhook

    secret = webhooks.new_secret()
    body = b'{"type":"webhook.test"}'
    expected = Webhook(secret).sign("msg_1", datetime.fromtimestamp(1_700_000_000, tz=UTC), body.decode())
    assert webhooks.sign(secret, "msg_1", 1_700_000_000, body) == expected


def test_the_verification_code_in_the_docs_accepts_our_signatures_and_refuses_others() -> None:
    """Both snippets of docs/notifications.md "Verifying a signature", run as written."""
    import re
    import time
    from pathlib import Path

    from standardwebhooks.webhooks import WebhookVerificationError

    doc = (Path(__file__).resolve().parents[2] / "docs" / "notifications.md").read_text()
    section = doc.split("### Verifying a signature", 1)[1].split("###", 1)[0]
    reference, by_hand = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    secret = webhooks.new_secret()
    body = b'{"type":"webhook.test","data":{}}'
    now = int(time.time())
    signed = webhooks.headers([webhooks.new_secret(), secret], "msg_1", now, body)
    namespace: dict[str, Any] = {}
    exec(reference.replace('"whsec_..."', repr(secret)), namespace)
    exec(by_hand, namespace)
    assert namespace["receive"](body, signed) == {"type": "webhook.test", "data": {}}
    assert namespace["verify"](secret, body, signed) is True
    assert namespace["verify"](secret, body + b" ", signed) is False
    assert namespace["verify"](webhooks.new_secret(), body, signed) is False
    with pytest.raises(WebhookVerificationError):
        namespace["receive"](body.replace(b"test", b"tost"), signed)
