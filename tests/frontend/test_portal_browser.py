"""The company portal in a real browser, end to end (issue 13's browser test).

Debian's headless Chromium against daphne on the test database (tasks run eagerly inside daphne,
as in embedded mode; e-mail goes to daphne's log through the console backend): a company signs
up and verifies its address, invites an agent who accepts in a second browser, the agent runs a
live session with Chromium's fake camera playing a real face while the owner's dashboard lists
it live, then the owner reads the session, downloads its reports and the period report, records
the customer's CSAT answer and switches to Spanish. axe-core checks every main page; screenshots
of the main pages are saved as test artifacts (``BROWSER_ARTIFACTS`` or the test's tmp dir).
"""

from __future__ import annotations

import csv
import io
import os
import re
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accounts.models import Company, Membership, Role, User
from evaluations.models import EvaluationSession, Status
from tests.browser import Daphne, chromium, serious_violations, text, wait_for, write_y4m

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("needs_services")]

OWNER, AGENT, PASSWORD = "maria@tienda.test", "juan@tienda.test", "a-long-test-password-9"


class Visit:
    """One browser: pages checked with axe-core and saved as screenshots as they are visited."""

    def __init__(self, driver: Any, base: str, artifacts: Path, name: str) -> None:
        self.driver, self.base, self.artifacts, self.name = driver, base, artifacts, name
        self.violations: dict[str, list[str]] = {}

    def get(self, path: str) -> None:
        self.driver.get(self.base + path)

    def check(self, page: str) -> None:
        """Run axe-core on the current page and save a screenshot of it."""
        self.violations[page] = serious_violations(self.driver)
        height = self.driver.execute_script("return document.body.scrollHeight")
        self.driver.set_window_size(1280, min(max(int(height) + 40, 700), 4000))
        self.driver.save_screenshot(str(self.artifacts / f"{self.name}-{page}.png"))
        self.driver.set_window_size(1280, 900)

    def fill(self, **fields: str) -> None:
        from selenium.webdriver.common.by import By

        for name, value in fields.items():
            element = self.driver.find_element(By.NAME, name)
            element.clear()
            element.send_keys(value)

    def submit(self, css: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, css).click()

    def download(self, path: str) -> bytes:
        """Fetch ``path`` with this browser's cookies (what its download button does)."""
        cookies = "; ".join(f"{c['name']}={c['value']}" for c in self.driver.get_cookies())
        request = urllib.request.Request(self.base + path, headers={"Cookie": cookies})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200, path
            return bytes(response.read())


def confirmation_link(log: Path, address: str) -> str:
    """The e-mail verification link daphne's console e-mail backend printed for ``address``."""
    body = log.read_text(errors="replace")
    start = body.rfind(f"To: {address}")
    assert start >= 0, f"no e-mail to {address} in daphne's log"
    match = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+/)", body[start:])
    assert match, "no confirmation link in the e-mail"
    return match.group(1)


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    assert data.startswith(b"%PDF")
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def test_a_company_signs_up_invites_an_agent_and_follows_a_live_session_to_its_reports(
    server: Daphne, tmp_path: Path, face_bgr: np.ndarray
) -> None:
    from selenium.webdriver.common.by import By

    artifacts = Path(os.environ.get("BROWSER_ARTIFACTS") or tmp_path / "screenshots")
    artifacts.mkdir(parents=True, exist_ok=True)
    log = server.log_dir / f"daphne-{server.runs}.log"
    owner_driver = chromium()
    agent_driver = chromium(write_y4m(tmp_path / "camera.y4m", face_bgr, frames=40))
    owner = Visit(owner_driver, server.base, artifacts, "owner")
    agent = Visit(agent_driver, server.base, artifacts, "agent")
    try:
        # 1. Public pages, then sign-up: a new company with the signer as its owner.
        owner.get("/")
        owner.check("landing")
        owner.get("/demo/")
        owner.check("demo")
        owner.get("/accounts/signup/")
        owner.check("signup")
        owner.fill(email=OWNER, password1=PASSWORD, password2=PASSWORD, company_name="Tienda Sol")
        owner.submit("main form button[type=submit]")
        wait_for(owner_driver, lambda d: "/accounts/confirm-email/" in d.current_url)
        owner.get(confirmation_link(log, OWNER))
        owner.submit("main form button[type=submit]")
        wait_for(owner_driver, lambda d: d.current_url.rstrip("/").endswith("/app"))
        company = Company.objects.get(name="Tienda Sol")
        assert Membership.objects.for_company(company).get().role == Role.OWNER

        # 2. The owner invites an agent; the link is shown once on the page.
        owner.get("/app/settings/invitations/")
        owner.fill(email=AGENT)
        owner.submit("form.settings-form button[type=submit]")
        link = wait_for(owner_driver, lambda d: d.find_element(By.ID, "accept-link").get_attribute("value"))
        owner.check("settings-invitations")
        assert "/invitations/" in link

        # 3. The agent accepts in a second browser: signs up from the invitation, no company of their own.
        agent_driver.get(link)
        agent.check("invitation")
        agent.get("/accounts/signup/")
        agent.fill(email=AGENT, password1=PASSWORD, password2=PASSWORD)
        agent.submit("main form button[type=submit]")
        wait_for(agent_driver, lambda d: "/invitations/" in d.current_url or "/app" in d.current_url)
        if "/invitations/" in agent_driver.current_url:
            agent.submit("main form button[type=submit]")
        wait_for(agent_driver, lambda d: Membership.objects.for_company(company).filter(user__email=AGENT).exists())
        assert Membership.objects.for_company(company).get(user__email=AGENT).role == Role.AGENT

        # 4. The owner watches the dashboard while the agent runs a live session.
        owner.get("/app/")
        wait_for(owner_driver, lambda d: "on" in d.find_element(By.ID, "live-state").get_attribute("class").split())
        agent.get("/live/")
        agent.check("live")
        agent_driver.find_element(By.ID, "customer-reference").send_keys("pedido-77")
        agent_driver.find_element(By.ID, "consent").click()
        agent_driver.find_element(By.ID, "start").click()
        wait_for(agent_driver, lambda d: int(text(d, "stat-analysed") or 0) >= 5)
        session = EvaluationSession.objects.for_company(company).get()
        # The live list shows the running session without a reload, with its frames moving.
        row = f'tr[data-session="{session.public_id}"]'
        wait_for(owner_driver, lambda d: d.find_elements(By.CSS_SELECTOR, row))
        wait_for(owner_driver, lambda d: int(d.find_element(By.CSS_SELECTOR, f'{row} [data-field="frames"]').text) >= 3)
        assert AGENT in owner_driver.find_element(By.CSS_SELECTOR, row).text
        owner.check("dashboard-live")
        agent_driver.find_element(By.ID, "finish").click()
        wait_for(agent_driver, lambda d: text(d, "status") == "finished")
        wait_for(owner_driver, lambda d: not d.find_elements(By.CSS_SELECTOR, row))
        session.refresh_from_db()
        assert session.status == Status.FINISHED and session.final_grade

        # 5. The session's page: grade, timeline, evidence; its reports.
        owner.get("/app/sessions/")
        owner.check("sessions")
        owner_driver.find_element(By.CSS_SELECTOR, f'a[href="/app/sessions/{session.public_id}/"]').click()
        wait_for(owner_driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".grade-big"))
        page = owner_driver.find_element(By.TAG_NAME, "main").text
        letter = session.grade_letter if session.grade_letter in "ABCDF" else "?"
        assert letter in owner_driver.find_element(By.CSS_SELECTOR, ".letter.big").text
        assert owner_driver.find_elements(By.CSS_SELECTOR, "#timeline-title ~ svg, svg.chart")
        assert "pedido-77" in page
        owner.check("session-detail")
        facts = list(
            csv.DictReader(io.StringIO(owner.download(f"/app/sessions/{session.public_id}/report.csv").decode()))
        )
        assert facts[0]["session_id"] == str(session.public_id) and facts[0]["customer_reference"] == "pedido-77"
        session_pdf = pdf_text(owner.download(f"/app/sessions/{session.public_id}/report.pdf"))
        assert "Tienda Sol" in session_pdf and "pedido-77" in session_pdf
        period_pdf = pdf_text(owner.download("/app/reports/period.pdf?period=30"))
        assert "Tienda Sol" in period_pdf and AGENT in period_pdf

        # 6. The customer's own answer, then the other main pages.
        owner_driver.find_element(By.CSS_SELECTOR, 'input[name="csat"][value="4"]').click()
        owner.submit("form.csat-form button[type=submit]")
        wait_for(owner_driver, lambda d: EvaluationSession.objects.for_company(company).get().csat == 4)
        for path, page_name in (
            ("/app/agents/", "agents"),
            ("/app/settings/", "settings-company"),
            ("/app/settings/members/", "settings-members"),
            ("/app/settings/audit/", "settings-audit"),
            ("/company/", "company"),
        ):
            owner.get(path)
            owner.check(page_name)
        agent.get("/app/")
        agent.check("agent-home")

        # 7. Spanish: the owner switches language and the dashboard speaks it.
        owner.get("/app/")
        from selenium.webdriver.support.ui import Select

        Select(owner_driver.find_element(By.ID, "language-choice")).select_by_value("es")
        owner.submit("form.language button[type=submit]")
        wait_for(owner_driver, lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "es")
        assert User.objects.get(email=OWNER).language == "es"
        assert "Sesiones" in owner_driver.find_element(By.TAG_NAME, "body").text
        owner.check("dashboard-es")
    finally:
        owner_driver.quit()
        agent_driver.quit()
    failures = {page: found for visit in (owner, agent) for page, found in visit.violations.items() if found}
    assert not failures, failures
