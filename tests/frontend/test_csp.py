"""The Content-Security-Policy header: on every HTML response, with a fresh nonce the page uses.

The browser half (every main page runs under it without a violation) is test_csp_browser.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from tests.frontend.conftest import page_client

NONCE = re.compile(r"'nonce-([A-Za-z0-9+/=]+)'")


def directives(header: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.mark.parametrize("path", ["/", "/demo/", "/accounts/login/", "/accounts/signup/"])
def test_a_public_page_carries_the_policy_with_the_nonce_its_markup_uses(db: None, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    policy = directives(response["Content-Security-Policy"])
    nonce = NONCE.search(" ".join(policy["script-src"]))
    assert nonce, policy
    assert policy["script-src"] == ["'self'", f"'nonce-{nonce[1]}'"]
    assert policy["style-src"] == ["'self'", f"'nonce-{nonce[1]}'"]
    assert f'nonce="{nonce[1]}"' in response.content.decode()


def test_the_policy_locks_down_everything_else(db: None) -> None:
    policy = directives(Client().get("/").headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["font-src"] == ["'self'"]
    assert "'unsafe-inline'" not in str(policy) and "'unsafe-eval'" not in str(policy)


def test_connect_src_names_the_websocket_origin_of_the_host_served(db: None) -> None:
    plain = directives(Client().get("/", HTTP_HOST="localhost").headers["Content-Security-Policy"])
    assert plain["connect-src"] == ["'self'", "ws://localhost", "wss://localhost"]
    secure = directives(Client().get("/", HTTP_HOST="localhost", secure=True).headers["Content-Security-Policy"])
    assert secure["connect-src"] == ["'self'", "wss://localhost"]


def test_each_response_gets_a_nonce_of_its_own(db: None) -> None:
    client = Client()
    first, second = (NONCE.search(client.get("/").headers["Content-Security-Policy"]) for _ in range(2))
    assert first and second and first[1] != second[1]
    assert len(first[1]) >= 22  # 16 random bytes, base64


def test_portal_pages_carry_the_policy_with_their_nonce(alice: User) -> None:
    client = page_client(alice)
    for path in ("/app/", "/app/sessions/", "/app/settings/", "/live/", "/accounts/2fa/"):
        response = client.get(path)
        assert response.status_code == 200, path
        nonce = NONCE.search(response["Content-Security-Policy"])
        assert nonce, path
        assert f'nonce="{nonce[1]}"' in response.content.decode(), path


def test_swagger_ui_runs_its_inline_blocks_by_nonce_under_the_plain_policy(db: None) -> None:
    response = Client().get("/api/docs/")
    policy = directives(response["Content-Security-Policy"])
    nonce = NONCE.search(" ".join(policy["script-src"]))
    assert nonce
    html = response.content.decode()
    assert html.count(f'nonce="{nonce[1]}"') == 2  # its <style> and its <script>
    assert policy["style-src"] == ["'self'", f"'nonce-{nonce[1]}'"]


def test_only_redoc_gets_inline_styles_and_blob_workers(db: None) -> None:
    response = Client().get("/api/redoc/")
    policy = directives(response["Content-Security-Policy"])
    # A nonce in style-src would make browsers ignore 'unsafe-inline' (see frontend/csp.py).
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    assert policy["worker-src"] == ["'self'", "blob:"]
    assert NONCE.search(" ".join(policy["script-src"]))
    html = response.content.decode()
    assert "fonts.googleapis.com" not in html and "<script>" not in html
    for path in ("/", "/api/docs/"):
        other = directives(Client().get(path).headers["Content-Security-Policy"])
        assert "worker-src" not in other and "'unsafe-inline'" not in other["style-src"]


def test_api_responses_carry_the_policy_too(alice: User) -> None:
    response = page_client(alice).get("/api/v1/company/")
    assert response.status_code == 200
    assert directives(response["Content-Security-Policy"])["default-src"] == ["'self'"]


# Markup that the policy would refuse, caught before a browser does.
_TEMPLATE_DIRS = [Path(settings.BASE_DIR) / app / "templates" for app in ("frontend", "notifications", "accounts")]
_EMAIL = re.compile(r"(^|/)(e-?mail)/")
_HANDLER = re.compile(r"<[a-zA-Z][^>]*\son[a-z]+\s*=", re.S)
_STYLE_ATTRIBUTE = re.compile(r"<[a-zA-Z][^>]*\sstyle\s*=", re.S)
_INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*\bnonce=)(?![^>]*type=\"application/json\")[^>]*>")
_INLINE_STYLE = re.compile(r"<style\b(?![^>]*\bnonce=)[^>]*>")


def test_no_page_template_has_an_inline_handler_style_or_script_without_the_nonce() -> None:
    templates = [
        path
        for directory in _TEMPLATE_DIRS
        if directory.exists()
        for path in directory.rglob("*.html")
        if not _EMAIL.search(path.relative_to(directory).as_posix())
    ]
    assert len(templates) > 40
    refused = [
        f"{path.relative_to(settings.BASE_DIR)}: {pattern.pattern[:24]}"
        for path in templates
        for pattern in (_HANDLER, _STYLE_ATTRIBUTE, _INLINE_SCRIPT, _INLINE_STYLE)
        if pattern.search(path.read_text())
    ]
    assert refused == []
