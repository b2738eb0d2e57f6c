"""The agent's live page in a real browser: Debian's Chromium with a fake camera playing a face
video, daphne serving the app on the test database, frames analysed by the real inference
engine (tasks run eagerly inside daphne, as in embedded mode), results pushed back live.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from accounts.models import AuditEvent, Company, User
from evaluations.models import EvaluationSession, SessionFrame, Status
from tests.processes import log_tail, running

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("needs_services")]


def _require_browser() -> None:
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    message = "Debian's chromium and chromium-driver are missing: run scripts/install-browser.sh (make test does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def write_y4m(path: Path, face_bgr: np.ndarray, frames: int = 20) -> Path:
    """A 640x480 camera feed (YUV4MPEG2, what Chromium's fake camera plays) of the astronaut."""
    height, width = 480, 640
    face = cv2.resize(face_bgr, (360, 360))
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            canvas = np.full((height, width, 3), 90, np.uint8)
            left = 120 + (i % 10) * 4  # a little movement, like a real customer
            canvas[60:420, left : left + 360] = face
            out.write(b"FRAME\n" + cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Daphne:
    """daphne serving the app on the test database, which a test may restart (a deploy)."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env, self.log_dir, self.runs = env, log_dir, 0
        self.current: ExitStack | None = None

    def start(self) -> None:
        self.runs += 1
        log = self.log_dir / f"daphne-{self.runs}.log"
        daphne = str(Path(sys.executable).parent / "daphne")
        command = [daphne, "-b", "127.0.0.1", "-p", str(self.port), "moodsaas.asgi:application"]
        self.current = ExitStack()
        process = self.current.enter_context(running(command, log, self.env, stop_timeout=15))
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"daphne did not start:\n{log_tail(log)}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None


@pytest.fixture
def server(emotion_model: Path, tmp_path: Path) -> Iterator[Daphne]:
    """daphne on the test database; Celery tasks run eagerly in it (no worker needed)."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "MOODSAAS_MODE": "services",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": str(settings.REDIS_URL),
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "DEBUG": "true",  # whitenoise serves static files straight from the apps
        "MOODSAAS_MODEL_DIR": str(emotion_model),
        "MOODSAAS_VAR_DIR": str(tmp_path / "var"),
    }
    daphne = Daphne(env, tmp_path)
    daphne.start()
    try:
        yield daphne
    finally:
        daphne.stop()


@pytest.fixture
def browser(tmp_path: Path, face_bgr: np.ndarray) -> Iterator[Any]:
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        "--use-fake-ui-for-media-stream",  # grant the camera permission without a prompt
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={write_y4m(tmp_path / 'camera.y4m', face_bgr)}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def sign_in(driver: Any, base: str, user: User) -> None:
    client = Client()
    client.force_login(user)
    driver.get(f"{base}/healthz")
    driver.add_cookie(
        {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value}
    )


def wait_for(driver: Any, condition: Any, timeout: float = 90) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition)


def text(driver: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, element_id).text)


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
    emotions = browser.find_elements(By.CSS_SELECTOR, "#emotions tbody tr")
    assert [row.find_element(By.TAG_NAME, "td").text for row in emotions] == [
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
