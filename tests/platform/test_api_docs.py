"""OpenAPI schema, offline docs and the health endpoint."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


def test_the_schema_is_valid_and_generates_without_warnings(tmp_path) -> None:
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out), stdout=StringIO())
    text = out.read_text()
    for path in ("/api/v1/company/", "/api/v1/members/{id}/", "/api/v1/invitations/", "/api/v1/tokens/{id}/"):
        assert path in text
    assert "bearerFormat" in text


@pytest.mark.django_db
def test_the_schema_is_served(client) -> None:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "MoodSaaS API"


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_the_docs_load_their_assets_locally_not_from_a_cdn(client, url) -> None:
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn.jsdelivr.net" not in html
    assert "unpkg.com" not in html


@pytest.mark.django_db
def test_healthz_reports_ok_when_the_database_answers(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
