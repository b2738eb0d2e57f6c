"""docker-compose.yml and the Dockerfile stay consistent with the app (no Docker engine here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_defines_the_production_services() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "migrate", "web", "worker", "beat"} <= set(services)
    assert services["web"]["command"][:1] == ["daphne"]
    assert "moodsaas.asgi:application" in services["web"]["command"]
    worker = services["worker"]["command"]
    assert worker[:3] == ["celery", "-A", "moodsaas"]
    assert worker[worker.index("-Q") + 1] == "inference,default"
    assert services["beat"]["command"][:4] == ["celery", "-A", "moodsaas", "beat"]


def test_compose_runs_the_app_in_services_mode_with_secrets_from_the_environment() -> None:
    env = _compose()["services"]["web"]["environment"]
    assert env["MOODSAAS_MODE"] == "services"
    assert env["HTTPS"] == "true"
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["REDIS_URL"].startswith("redis://")


def test_the_image_copies_every_app_in_installed_apps() -> None:
    from django.conf import settings

    dockerfile = (ROOT / "Dockerfile").read_text()
    local_apps = [app for app in settings.INSTALLED_APPS if (ROOT / app.split(".")[0]).is_dir()]
    for app in local_apps:
        assert f"COPY {app} ./{app}" in dockerfile, app
