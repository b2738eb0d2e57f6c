"""Browser tests' shared parts: daphne serving the app on the test database, Debian's headless
Chromium (with a fake camera playing a face), sign-in, waiting, and the axe-core accessibility check.

Nothing is downloaded at run time: Chromium and ChromeDriver are Debian's (scripts/install-browser.sh),
axe-core's script ships inside a PyPI package installed by ``make install``.
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

from accounts.models import User
from tests.processes import log_tail, running

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


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

    def __enter__(self) -> Daphne:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def server_env(emotion_model: Path, tmp_path: Path) -> dict[str, str]:
    """The environment of a daphne on the test database; Celery tasks run eagerly in it."""
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
    return env


@pytest.fixture
def server(emotion_model: Path, tmp_path: Path) -> Iterator[Daphne]:
    """daphne on the test database; Celery tasks run eagerly in it (no worker needed)."""
    with Daphne(server_env(emotion_model, tmp_path), tmp_path) as daphne:
        yield daphne


def chromium(camera: Path | None = None, language: str = "en-US", width: int = 1280) -> Any:
    """A headless Chromium, with a fake camera playing ``camera`` (a .y4m file) if given."""
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
        f"--window-size={width},900",
        f"--lang={language}",
        "--use-fake-ui-for-media-stream",  # grant the camera permission without a prompt
        "--use-fake-device-for-media-stream",
        *([f"--use-file-for-fake-video-capture={camera}"] if camera else []),
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    # The console log (driver.get_log("browser")): Content-Security-Policy refusals are reported there.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    return driver


@pytest.fixture
def browser(tmp_path: Path, face_bgr: np.ndarray) -> Iterator[Any]:
    driver = chromium(write_y4m(tmp_path / "camera.y4m", face_bgr))
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


def browser_password(user: User, password: str) -> None:
    """Give ``user`` a password daphne can check: the tests' own hasher (MD5, for speed) is not in
    the server's ``PASSWORD_HASHERS``."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(password, hasher.salt())
    user.save(update_fields=["password"])


def wait_for(driver: Any, condition: Any, timeout: float = 90) -> Any:
    """Poll ``condition`` until it is truthy; a page that reloads meanwhile (an element gone stale) is polled again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(
        driver, timeout, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
    ).until(condition)


def text(driver: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, element_id).text)


def axe_script() -> str:
    """axe-core's script, from the axe-playwright-python package (installed --no-deps by make install)."""
    import importlib.util

    spec = importlib.util.find_spec("axe_playwright_python")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("axe-playwright-python is missing: run make install")
    return (Path(next(iter(spec.submodule_search_locations))) / "axe.min.js").read_text()


def serious_violations(driver: Any) -> list[str]:
    """Run axe-core on the current page; return its serious and critical violations, one line each."""
    driver.execute_script(axe_script())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations)).catch(e => done(String(e)));"
    )
    assert isinstance(result, list), result
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result
        if v.get("impact") in ("serious", "critical")
    ]
