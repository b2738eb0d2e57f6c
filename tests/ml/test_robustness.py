from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.cli import main
from ml.datasets import load
from ml.model import ArchConfig, build_model
from ml.robustness import CONDITIONS, perturb, robustness
from ml.scoring import Scorer, keras_logits_fn


@pytest.fixture(scope="module")
def faces(fer_public: Path) -> np.ndarray:
    return load(fer_public).subset(64, seed=7).images


def test_every_condition_changes_the_faces_deterministically_and_keeps_their_shape(faces: np.ndarray) -> None:
    for condition in CONDITIONS:
        changed = perturb(faces, condition, seed=1)
        assert changed.shape == faces.shape and changed.dtype == np.uint8, condition
        assert np.array_equal(changed, perturb(faces, condition, seed=1)), condition
        assert np.array_equal(changed, faces) == (condition == "clean"), condition
    assert perturb(faces, "dark").mean() == pytest.approx(0.45 * faces.mean(), rel=0.02)
    assert perturb(faces, "low_contrast").std() < 0.6 * faces.std()

    def sharpness(images: np.ndarray) -> float:
        return float(np.mean([cv2.Laplacian(img, cv2.CV_64F).var() for img in images]))

    assert sharpness(perturb(faces, "blur")) < 0.5 * sharpness(faces)
    assert sharpness(perturb(faces, "low_res")) < 0.5 * sharpness(faces)
    with pytest.raises(ValueError, match="expected one of clean"):
        perturb(faces, "underwater")


def test_the_robustness_report_scores_ours_and_the_peer_under_every_condition(
    faces: np.ndarray, fer_public: Path
) -> None:
    data = load(fer_public).subset(64, seed=7)
    scorer = Scorer(version="tiny", logits=keras_logits_fn(build_model(ArchConfig(widths=(4, 8), dense=8))))

    report = robustness(scorer, data, "flip")

    assert report["tta"] == "flip" and tuple(report["conditions"]) == CONDITIONS
    for row in report["conditions"].values():
        assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["macro_f1"] <= 1.0 and 0.0 <= row["peer_accuracy"] <= 1.0
    changed = [row["accuracy"] for name, row in report["conditions"].items() if name != "clean"]
    assert report["mean_accuracy_changed"] == pytest.approx(np.mean(changed), abs=1e-4)
    # The peer is a trained model: on clean faces it is far above chance (1/7).
    assert report["conditions"]["clean"]["peer_accuracy"] > 0.3


def test_ml_evaluate_reports_robustness_on_request(
    fer_public: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "tiny.keras"
    build_model(ArchConfig(widths=(4, 8), dense=8)).save(model)

    code = main(
        [
            "evaluate",
            "--model",
            str(model),
            "--data",
            str(fer_public),
            "--limit",
            "48",
            "--json",
            "--no-peer",
            "--no-timing",
            "--robustness",
        ]
    )

    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["robustness"]["conditions"]) == set(CONDITIONS)
    assert "peer_accuracy" not in report["robustness"]["conditions"]["clean"]
