"""The agent's live page in a real browser: Debian's Chromium with a fake camera playing a face
video, daphne serving the app on the test database, frames analysed by the real inference
engine (tasks run eagerly inside daphne, as in embedded mode), results pushed back live.
"""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import AuditEvent, Company, User
from evaluations.models import EvaluationSession, SessionFrame, Status
from tests.browser import Daphne, sign_in, text, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("needs_services")]


def test_an_agent_confirms_the_notice_streams_the_camera_and_sees_the_grade_live(
    server: Daphne, browser: Any, bob: User, company_a: Company
) -> None:
    from selenium.webdriver.common.by import By

    sign_in(browser, server.base, bob)
    browser.get(f"{server.base}/live/")

    # Nothing starts before the notice is confirmed: no camera, no session.
    assert company_a.consent_notice[:40] in text(browser, "consent-notice")
    start = browser.find_element(By.ID, "start")
    assert not start.is_enabled()
    assert browser.execute_script("return document.getElementById('video').srcObject") is None
    assert not EvaluationSession.objects.for_company(company_a).exists()

    browser.find_element(By.ID, "customer-reference").send_keys("ticket-42")
    browser.find_element(By.ID, "consent").click()
    assert start.is_enabled()
    start.click()

    # Frames flow: the camera indicator is on, results come back and the grade is shown.
    wait_for(browser, lambda d: d.find_element(By.ID, "camera-indicator").is_displayed())
    wait_for(browser, lambda d: int(text(d, "stat-analysed") or 0) >= 3)
    assert text(browser, "status") == "open"
    assert text(browser, "grade-letter") in {"A", "B", "C", "D", "F", "?"}
    # Read in one script: live.js redraws the rows with every result (no stale element between reads).
    names = "return [...document.querySelectorAll('#emotions tbody tr')].map((r) => r.cells[0].textContent.trim())"
    assert browser.execute_script(names) == [
        "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral",
    ]  # fmt: skip

    # The server restarts (a deploy): the page reconnects by itself and frames keep flowing.
    server.stop()
    wait_for(browser, lambda d: text(d, "status") == "reconnecting…", timeout=30)
    server.start()
    before = int(text(browser, "stat-analysed"))
    wait_for(browser, lambda d: text(d, "status") == "open" and int(text(d, "stat-analysed")) >= before + 2)
    assert not browser.find_element(By.ID, "error").is_displayed()

    browser.find_element(By.ID, "pause").click()
    wait_for(browser, lambda d: text(d, "status") == "paused")
    browser.find_element(By.ID, "finish").click()
    wait_for(browser, lambda d: text(d, "status") == "finished")
    # Finishing switches the camera off at once.
    assert not browser.find_element(By.ID, "camera-indicator").is_displayed()
    assert browser.execute_script("return document.getElementById('video').srcObject") is None

    session = EvaluationSession.objects.for_company(company_a).get()
    assert session.status == Status.FINISHED
    assert session.agent == bob
    assert session.customer_reference == "ticket-42"
    assert session.final_grade
    assert SessionFrame.objects.for_company(company_a).filter(session=session).count() >= 3
    started = AuditEvent.objects.for_company(company_a).get(action="session.started")
    assert started.metadata["notice_shown"] is True
    # The page the agent sees matches the stored counters.
    assert int(text(browser, "stat-analysed")) <= session.frames_processed
