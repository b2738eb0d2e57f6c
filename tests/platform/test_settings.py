"""Settings in each mode, checked in fresh interpreters with controlled environments."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'mode': s.MOODSAAS_MODE, 'db': s.DATABASES['default']['ENGINE'], "
    "'layer': s.CHANNEL_LAYERS['default']['BACKEND'], 'eager': s.CELERY_TASK_ALWAYS_EAGER, "
    "'broker': s.CELERY_BROKER_URL, 'email': s.EMAIL_BACKEND, 'debug': s.DEBUG, "
    "'verification': s.ACCOUNT_EMAIL_VERIFICATION}))"
)


def _run(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "DJANGO_SETTINGS_MODULE": "moodsaas.settings",
        "MOODSAAS_VAR_DIR": str(tmp_path / "var"),
    }
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def _services_env() -> dict[str, str]:
    return {
        "DATABASE_URL": os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/moodsaas",
        "REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/9",
    }


def test_with_no_environment_at_all_the_project_runs_embedded(tmp_path: Path) -> None:
    result = _run(["-c", PROBE], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "mode": "embedded",
        "db": "django.db.backends.sqlite3",
        "layer": "channels.layers.InMemoryChannelLayer",
        "eager": True,
        "broker": "memory://",
        "email": "django.core.mail.backends.console.EmailBackend",
        "debug": True,
        "verification": "optional",
    }


def test_services_mode_uses_postgres_redis_and_mandatory_verification(tmp_path: Path) -> None:
    result = _run(
        ["-c", PROBE], {**_services_env(), "SECRET_KEY": "x" * 60, "EMAIL_HOST": "smtp.example.test"}, tmp_path
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    assert probe["mode"] == "services"
    assert probe["db"] == "django.db.backends.postgresql"
    assert probe["layer"] == "channels_redis.core.RedisChannelLayer"
    assert probe["eager"] is False
    assert probe["broker"].startswith("redis://")
    assert probe["email"] == "django.core.mail.backends.smtp.EmailBackend"
    assert probe["debug"] is False
    assert probe["verification"] == "mandatory"


def test_services_mode_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    result = _run(["-c", PROBE], _services_env(), tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set" in result.stderr


def test_a_malformed_variable_stops_start_up_with_its_name(tmp_path: Path) -> None:
    result = _run(["-c", PROBE], {"DEBUG": "perhaps"}, tmp_path)
    assert result.returncode != 0
    assert "DEBUG='perhaps' is not a boolean" in result.stderr


@pytest.mark.django_db
def test_check_deploy_is_clean_with_a_production_environment(tmp_path: Path) -> None:
    env = {
        **_services_env(),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "moodsaas.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://moodsaas.example.com",
        "HTTPS": "true",
        "EMAIL_HOST": "smtp.example.com",
    }
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
