"""Every main page passes its Content-Security-Policy in a real browser (issue 15, item 6).

Debian's headless Chromium against daphne on the test database. Each page is loaded with a
``securitypolicyviolation`` listener installed before any of the page's own scripts run (through
the DevTools protocol, which the policy does not govern), and Chromium's console log is read as
well: a page fails if either reports a violation. The agent page streams Chromium's fake camera
over its websocket and the dashboard and session pages keep theirs open, so ``connect-src``
is exercised for real; the demo shows its annotated photo (a ``data:`` image) and the MFA
activation page its QR code (a ``data:`` SVG); an admin then signs in again with a TOTP code.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accounts.models import Company, Membership, User
from evaluations.models import EvaluationSession
from tests.browser import Daphne, browser_password, chromium, sign_in, text, wait_for, write_y4m
from tests.evaluations.conftest import start
from tests.factories import PASSWORD
from tests.frontend.conftest import finished
from tests.totp import fresh_code

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("needs_services")]

# Runs in every document before its own scripts; the DevTools protocol is not subject to the CSP.
WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(
    `${e.effectiveDirective} refused ${e.blockedURI || "inline"} (${e.sourceFile || "page"}:${e.lineNumber}) ${e.sample}`
  );
});
"""


class Watched:
    """A browser whose pages are checked for CSP violations as they are visited."""

    def __init__(self, driver: Any, base: str) -> None:
        self.driver, self.base = driver, base
        self.violations: dict[str, list[str]] = {}
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH})

    def visit(self, path: str, settle: float = 0.5) -> None:
        self.driver.get(self.base + path)
        wait_for(self.driver, lambda d: d.execute_script("return document.readyState") == "complete")
        time.sleep(settle)  # scripts that start after load (sockets, Redoc's rendering)
        self.check(path)

    def check(self, page: str) -> None:
        found = list(self.driver.execute_script("return window.__cspViolations || []"))
        found += [
            entry["message"]
            for entry in self.driver.get_log("browser")
            if "Content Security Policy" in entry["message"] or "Content-Security-Policy" in entry["message"]
        ]
        if found:
            self.violations.setdefault(page, []).extend(found)


def test_every_main_page_runs_under_the_content_security_policy_without_a_violation(
    server: Daphne, tmp_path: Path, face_bgr: np.ndarray, alice: User, bob: User, company_a: Company
) -> None:
    import cv2
    from selenium.webdriver.common.by import By

    browser_password(alice, PASSWORD)
    done = finished(company_a, bob, "B", 72.0, customer_reference="T-9")
    running = start(bob, company_a)
    photo = tmp_path / "face.jpg"
    cv2.imwrite(str(photo), face_bgr)
    driver = chromium(write_y4m(tmp_path / "camera.y4m", face_bgr, frames=40))
    browser = Watched(driver, server.base)
    try:
        # 1. Public pages, the sign-in pages and the API docs (Swagger UI, Redoc) as a visitor.
        for path in ("/", "/demo/", "/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"):
            browser.visit(path)
        browser.visit("/api/docs/", settle=0)
        wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock"))
        browser.check("/api/docs/")
        browser.visit("/api/redoc/", settle=0)
        wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-section-id]"))
        browser.check("/api/redoc/")
        # The demo's result: the annotated photo is a data: image.
        browser.visit("/demo/")
        driver.find_element(By.NAME, "photo").send_keys(str(photo))
        driver.find_element(By.CSS_SELECTOR, "form.demo-form button[type=submit]").click()
        wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "img[src^='data:image/jpeg']"))
        browser.check("/demo/ (result)")

        # 2. The agent: the live page streams the fake camera over its websocket.
        sign_in(driver, server.base, bob)
        browser.visit("/app/")
        browser.visit("/live/")
        driver.find_element(By.ID, "consent").click()
        driver.find_element(By.ID, "start").click()
        wait_for(driver, lambda d: int(text(d, "stat-analysed") or 0) >= 3)
        driver.find_element(By.ID, "finish").click()
        wait_for(driver, lambda d: text(d, "status") == "finished")
        browser.check("/live/ (a session streamed and finished)")

        # 3. An admin: the portal, a running session's live page, settings, privacy, account pages.
        sign_in(driver, server.base, alice)
        browser.visit("/app/", settle=1.0)
        wait_for(driver, lambda d: "on" in d.find_element(By.ID, "live-state").get_attribute("class").split())
        browser.check("/app/ (socket open)")
        agent = Membership.objects.for_company(company_a).get(user=bob).public_id
        for path in (
            "/app/sessions/",
            f"/app/sessions/{done.public_id}/",
            f"/app/sessions/{running.public_id}/",
            f"/app/sessions/{done.public_id}/delete/",
            "/app/sessions/new/",
            "/app/agents/",
            f"/app/agents/{agent}/",
            "/app/notifications/",
            "/app/notifications/preferences/",
            "/app/settings/",
            "/app/settings/rubric/",
            "/app/settings/members/",
            "/app/settings/invitations/",
            "/app/settings/tokens/",
            "/app/settings/notifications/",
            "/app/settings/webhooks/",
            "/app/settings/audit/",
            "/company/",
            "/accounts/password/change/",
            "/accounts/email/",
            "/accounts/2fa/",
        ):
            browser.visit(path)

        # 4. Two-factor authentication: confirm the password, scan the QR code (a data: SVG), enter
        # the app's code, see the recovery codes; sign out and in again with a code.
        browser.visit("/accounts/reauthenticate/")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        browser.visit("/accounts/2fa/totp/activate/")
        assert driver.find_elements(By.CSS_SELECTOR, "img.qr[src^='data:image/svg+xml']"), "no TOTP QR code"
        secret = driver.find_element(By.ID, "authenticator_secret").get_attribute("value")
        driver.find_element(By.NAME, "code").send_keys(fresh_code(secret))
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait_for(driver, lambda d: d.find_elements(By.ID, "recovery_codes"))
        browser.check("/accounts/2fa/recovery-codes/")
        browser.visit("/accounts/2fa/")
        driver.find_element(By.CSS_SELECTOR, "form[action='/accounts/logout/'] button").click()
        wait_for(driver, lambda d: d.find_elements(By.LINK_TEXT, "Sign in"))
        browser.visit("/accounts/login/")
        driver.find_element(By.NAME, "login").send_keys(alice.email)
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait_for(driver, lambda d: "/accounts/2fa/authenticate/" in d.current_url)
        browser.check("/accounts/2fa/authenticate/")
        driver.find_element(By.NAME, "code").send_keys(fresh_code(secret))
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait_for(driver, lambda d: d.current_url.rstrip("/").endswith("/app"))
        browser.check("/app/ (signed in with a code)")
    except Exception as error:
        # A page that stopped working under the policy: say what the browser refused.
        browser.check("the page open when the test stopped")
        raise AssertionError(f"{error!r}; refused so far: {browser.violations}") from error
    finally:
        driver.quit()
    assert EvaluationSession.objects.for_company(company_a).count() == 3
    assert browser.violations == {}
