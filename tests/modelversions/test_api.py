from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from inference import registry
from inference.classes import EMOTIONS
from inference.preprocessing import DEFAULT_PARAMS
from ml.registry import activate, write_info

pytestmark = pytest.mark.django_db


def _register(root: Path, version: str) -> None:
    """A registered version with one real (tiny) file, enough for the registry's checks."""
    path = root / version
    path.mkdir()
    (path / "model.onnx").write_bytes(version.encode())
    write_info(
        registry.ModelInfo(
            version=version,
            path=path,
            classes=EMOTIONS,
            preprocess=DEFAULT_PARAMS,
            temperature=1.3,
            class_bias=(0.0,) * 7,
            keras_file="model.keras",
            serving={"format": "onnx", "file": "model.onnx"},
            metrics={"accuracy": 0.7},
            created_at=f"2026-11-24T00:00:0{version[-1]}+00:00",
        )
    )


@pytest.fixture
def model_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MOODSAAS_MODEL_DIR", str(tmp_path))
    _register(tmp_path, "v1")
    _register(tmp_path, "v2")
    activate("v1", tmp_path)
    return tmp_path


@pytest.fixture
def staff_client(alice: User) -> APIClient:
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    client = APIClient()
    client.force_login(alice)
    return client


def test_staff_list_activate_and_roll_back_model_versions(
    staff_client: APIClient, alice: User, model_root: Path
) -> None:
    listed = staff_client.get("/api/v1/models/").json()
    assert [(v["version"], v["active"]) for v in listed] == [("v1", True), ("v2", False)]

    response = staff_client.post("/api/v1/models/v2/activate/")
    assert response.status_code == 200 and response.json()["active"] is True
    assert registry.active_version(model_root) == "v2"
    assert (model_root / "HISTORY").read_text().splitlines()[-1].endswith(f"v2 staff:{alice.pk}")

    response = staff_client.post("/api/v1/models/restore-previous/")
    assert response.status_code == 200 and response.json()["version"] == "v1"
    assert registry.active_version(model_root) == "v1"


def test_restoring_with_no_previous_version_is_a_conflict(staff_client: APIClient, model_root: Path) -> None:
    (model_root / "HISTORY").write_text("")
    response = staff_client.post("/api/v1/models/restore-previous/")
    assert response.status_code == 409 and response.json()["code"] == "no_previous"
    assert registry.active_version(model_root) == "v1"


def test_an_unknown_or_tampered_version_is_refused_and_the_active_one_stays(
    staff_client: APIClient, model_root: Path
) -> None:
    response = staff_client.post("/api/v1/models/v9/activate/")
    assert response.status_code == 404 and "v9" in response.json()["detail"]
    assert response.json()["code"] == "not_found"
    (model_root / "v2" / "model.onnx").write_bytes(b"tampered")
    response = staff_client.post("/api/v1/models/v2/activate/")
    assert response.status_code == 400 and "checksum" in response.json()["detail"]
    assert response.json()["code"] == "invalid_version"
    assert registry.active_version(model_root) == "v1"


@pytest.mark.parametrize("client_name", ["owner_client", "bob_client", "charlie_client", "token_a_client"])
def test_company_users_and_api_tokens_cannot_see_or_switch_models(
    client_name: str, model_root: Path, request: pytest.FixtureRequest
) -> None:
    client: APIClient = request.getfixturevalue(client_name)
    assert client.get("/api/v1/models/").status_code in (401, 403)
    assert client.post("/api/v1/models/v2/activate/").status_code in (401, 403)
    assert client.post("/api/v1/models/restore-previous/").status_code in (401, 403)
    assert registry.active_version(model_root) == "v1"


def test_the_management_command_activates_and_restores(model_root: Path) -> None:
    from django.core.management import call_command

    call_command("ml", "activate", "v2")
    assert registry.active_version(model_root) == "v2"
    call_command("ml", "activate", "--previous")
    assert registry.active_version(model_root) == "v1"


def test_the_list_says_which_version_serves_live_frames(staff_client: APIClient, model_root: Path) -> None:
    listed = staff_client.get("/api/v1/models/").json()
    assert [(v["version"], v["active"], v["live"]) for v in listed] == [("v1", True, True), ("v2", False, False)]

    activate("v2", model_root, channel="live")
    listed = staff_client.get("/api/v1/models/").json()
    assert [(v["version"], v["active"], v["live"]) for v in listed] == [("v1", True, False), ("v2", False, True)]
