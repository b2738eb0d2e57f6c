from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference import registry
from ml.cli import main
from ml.datasets import load
from ml.export import export
from ml.model import ArchConfig
from ml.registry import activate, restore_previous
from ml.train import TrainConfig, train

TINY = TrainConfig(epochs=1, batch_size=64, cycle_epochs=1, arch=ArchConfig(widths=(4, 8, 8, 16), dense=16))


@pytest.fixture(scope="module")
def tiny_keras(fer_public: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = load(fer_public)
    run = tmp_path_factory.mktemp("run")
    return train(data.subset(256, seed=3), data.subset(64, seed=4), run, TINY, log=lambda _: None).best_path


def test_export_registers_a_calibrated_documented_version_and_activation_can_be_rolled_back(
    tiny_keras: Path,
    fer_public: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MOODSAAS_MODEL_DIR", str(tmp_path))
    val = load(fer_public).subset(200, seed=5)

    first, report = export(tiny_keras, "tiny-1", val, tta_mode="flip", with_peer=False)
    assert {
        "model.keras",
        first.serving["file"],
        "metadata.json",
        "MODEL_CARD.md",
        "report.json",
        "confusion_matrix.png",
        "reliability.png",
    } <= {p.name for p in first.path.iterdir()}
    assert 0.25 <= first.temperature <= 8.0
    assert first.metrics["n"] == 200 and first.metrics["tta"] == "flip"
    assert set(first.metrics["accuracy_by_tta"]) == {"none", "flip"}
    # Only the served graph ships next to model.keras; int8 parity was measured against float32.
    assert set(first.checksums) == {"model.keras", first.serving["file"]}
    assert {"float32_accuracy", "int8_accuracy", "argmax_agreement"} <= set(first.serving["int8_parity"])
    card = (first.path / "MODEL_CARD.md").read_text()
    assert "FER2013" in card and "camera-like conditions" in card and "| low_res |" in card
    assert set(report["robustness"]["conditions"]) == {
        "clean",
        "reframed",
        "dark",
        "low_contrast",
        "blur",
        "jpeg",
        "noise",
        "low_res",
    }
    assert report["results"]["plain"]["ece_before_temperature"] >= 0
    with pytest.raises(registry.RegistryError, match="already exists"):
        export(tiny_keras, "tiny-1", val, with_peer=False)
    assert not list(tmp_path.glob(".*partial")), "a failed export leaves nothing behind"

    export(tiny_keras, "tiny-2", val, tta_mode="none", with_peer=False)
    activate("tiny-1")
    activate("tiny-2")
    assert registry.active().version == "tiny-2"
    assert restore_previous().version == "tiny-1"
    assert registry.active_version() == "tiny-1"

    assert (
        main(
            [
                "evaluate",
                "--model",
                "active",
                "--data",
                str(fer_public),
                "--limit",
                "100",
                "--tta",
                "--tta-mode",
                "flip",
                "--json",
                "--no-peer",
                "--no-timing",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["model_version"] == "tiny-1" and out["n"] == 100 and out["tta"] == "flip"
    assert set(out["per_class_recall"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    assert 0.0 <= out["accuracy"] <= 1.0 and 0.0 <= out["ece"] <= 1.0 and "macro_f1" in out

    # Ten-crop TTA (the default mode) also reports the flip mode that live frames use.
    assert (
        main(["evaluate", "--data", str(fer_public), "--limit", "100", "--tta", "--json", "--no-peer", "--no-timing"])
        == 0
    )
    ten = json.loads(capsys.readouterr().out)
    assert ten["tta"] == "ten" and set(ten["results"]) == {"plain", "flip", "tta"}
    assert ten["accuracy"] == ten["results"]["tta"]["accuracy"]


def test_a_tampered_model_file_cannot_be_activated(tiny_keras: Path, fer_public: Path, tmp_path: Path) -> None:
    info, _ = export(
        tiny_keras, "tiny-x", load(fer_public).subset(64, seed=6), tta_mode="none", with_peer=False, root=tmp_path
    )
    (info.path / info.serving["file"]).write_bytes(b"tampered")
    with pytest.raises(registry.RegistryError, match="checksum"):
        activate("tiny-x", tmp_path)
    assert not (tmp_path / "ACTIVE").exists()


def test_the_cli_reports_bad_data_and_unknown_versions_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOODSAAS_MODEL_DIR", str(tmp_path))
    assert main(["evaluate", "--data", str(tmp_path / "missing.npz")]) == 2
    assert "missing.npz" in capsys.readouterr().err
    assert main(["activate", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_rolling_back_skips_versions_deleted_since_they_were_active(tmp_path: Path) -> None:
    import shutil

    from tests.model_registry import register_tiny

    for seed, version in enumerate(["old", "gone", "new"], start=1):
        register_tiny(tmp_path, version, seed)
        activate(version, tmp_path)
    shutil.rmtree(tmp_path / "gone")
    assert restore_previous(tmp_path).version == "old"
    shutil.rmtree(tmp_path / "new")
    with pytest.raises(registry.RegistryError, match="no previous"):
        restore_previous(tmp_path)


def test_the_live_channel_has_its_own_pointer_history_and_rollback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.model_registry import model_dir, register_tiny

    for seed, version in enumerate(["ens", "small", "smaller"], start=1):
        register_tiny(tmp_path, version, seed)
    activate("ens", tmp_path)
    assert registry.serving_version("live", tmp_path) == "ens"  # no LIVE pointer: live follows the active one

    activate("small", tmp_path, channel="live")
    activate("smaller", tmp_path, channel="live")
    assert (registry.active_version(tmp_path), registry.serving_version("live", tmp_path)) == ("ens", "smaller")
    assert registry.history(tmp_path) == ["ens"]
    assert registry.history(tmp_path, "live") == ["small", "smaller"]

    assert restore_previous(tmp_path, channel="live").version == "small"
    assert registry.active_version(tmp_path) == "ens"
    with pytest.raises(registry.RegistryError, match="no previous model version to restore for the active channel"):
        restore_previous(tmp_path)
    with pytest.raises(registry.RegistryError, match="unknown channel"):
        activate("small", tmp_path, channel="batch")  # type: ignore[arg-type]

    with model_dir(tmp_path):
        assert main(["models"]) == 0
        listed = capsys.readouterr().out.splitlines()
        assert [line[:2] for line in listed] == ["* ", " L", "  "]
        assert main(["activate", "--follow-active"]) == 2  # needs --live
        assert "add --live" in capsys.readouterr().err
        assert main(["activate", "--live", "--follow-active"]) == 0
        assert capsys.readouterr().out.strip() == "live frames: the active model (ens)"
    assert not (tmp_path / "LIVE").exists()
    assert registry.serving_version("live", tmp_path) == "ens"


def test_the_model_card_names_distillation_and_webcam_degradation_only_when_the_recipe_used_them() -> None:
    from ml.export import _extras

    used = _extras(
        {"augment": {"camera_prob": 0.3}, "teacher": "runs/t.keras", "teacher_weight": 0.5, "teacher_temperature": 2.0}
    )
    assert "30% of training faces" in used and "`runs/t.keras`" in used and "weight 0.5" in used
    assert _extras({"augment": {"camera_prob": 0.0}, "teacher": ""}) == ""
    assert _extras({}) == ""


def test_a_serving_only_version_ships_no_keras_file_and_still_activates(
    tiny_keras: Path, fer_public: Path, tmp_path: Path
) -> None:
    from inference.serving import ServingModel

    info, _ = export(
        tiny_keras,
        "tiny-serving",
        load(fer_public).subset(64, seed=7),
        tta_mode="none",
        with_peer=False,
        root=tmp_path,
        keep_keras=False,
    )

    assert not (info.path / "model.keras").exists() and info.keras_file == ""
    assert set(info.checksums) == {info.serving["file"]}
    activate("tiny-serving", tmp_path)
    served = ServingModel.load(registry.get("tiny-serving", tmp_path), threads=1)
    assert served.logits(np.zeros((2, 40, 40, 1), np.float32)).shape == (2, 7)
