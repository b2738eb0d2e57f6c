from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ml.cli import main
from ml.datasets import load
from ml.distill import CACHE_FILE, TeacherError, cached_teacher_probabilities, soft_targets, teacher_targets
from ml.model import ArchConfig, build_model
from ml.train import TrainConfig, _datasets, train

TINY = TrainConfig(epochs=1, batch_size=64, cycle_epochs=1, arch=ArchConfig(widths=(4, 8, 8, 16), dense=16))


def _teacher(path: Path, input_size: int = 40) -> Path:
    import keras

    keras.utils.set_random_seed(3)
    build_model(ArchConfig(widths=(4, 8), dense=8, input_size=input_size)).save(path)
    return path


def test_soft_targets_mix_the_label_and_the_teachers_probabilities_by_weight() -> None:
    labels = np.array([0, 3])
    teacher = np.array([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], [1 / 7] * 7], np.float32)

    mixed = soft_targets(labels, teacher, 0.25)

    assert mixed[0, 0] == pytest.approx(0.75) and mixed[0, 6] == pytest.approx(0.25)
    assert mixed[1, 3] == pytest.approx(0.75 + 0.25 / 7) and mixed[1, 0] == pytest.approx(0.25 / 7)
    assert np.allclose(mixed.sum(axis=1), 1.0)
    assert np.array_equal(soft_targets(labels, teacher, 0.0), np.eye(7, dtype=np.float32)[labels])
    with pytest.raises(TeacherError, match="weight"):
        soft_targets(labels, teacher, 1.5)


def test_a_run_with_a_teacher_trains_on_its_soft_targets_and_labels_the_faces_only_once(
    fer_public: Path, tmp_path: Path
) -> None:
    data = load(fer_public)
    train_data, val_data = data.subset(192, seed=1), data.subset(64, seed=2)
    teacher = _teacher(tmp_path / "teacher.keras")
    cfg = replace(TINY, teacher=str(teacher), teacher_weight=0.5, teacher_temperature=2.0)
    logs: list[str] = []

    train(train_data, val_data, tmp_path / "run", cfg, log=logs.append)

    cache = tmp_path / "run" / CACHE_FILE
    with np.load(cache) as saved:
        probs = saved["probabilities"]
    assert probs.shape == (192, 7) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert any("soft targets from teacher" in line for line in logs)
    # The batches carry the mixed targets: half the label, half a spread-out teacher distribution.
    targets = soft_targets(train_data.labels, probs, 0.5)
    _, y = next(iter(_datasets(train_data, val_data, cfg, 0, targets)[0]))
    rows = y.numpy()
    assert rows.max(axis=1).min() < 1.0 and np.allclose(rows.sum(axis=1), 1.0, atol=1e-5)
    assert all(any(np.allclose(row, t) for t in targets) for row in rows)

    # Resuming reuses the stored targets instead of running the teacher again.
    stamp = cache.stat().st_mtime_ns
    train(train_data, val_data, tmp_path / "run", replace(cfg, epochs=2), log=logs.append)
    assert cache.stat().st_mtime_ns == stamp


def test_a_teacher_for_another_input_size_or_a_missing_one_is_refused_by_name(fer_public: Path, tmp_path: Path) -> None:
    data = load(fer_public).subset(32, seed=1)
    wrong = _teacher(tmp_path / "wrong.keras", input_size=48)

    with pytest.raises(TeacherError, match="wrong.keras"):
        cached_teacher_probabilities(tmp_path, wrong, data, 2.0, 40)
    assert not (tmp_path / CACHE_FILE).exists()

    code = main(
        [
            "train",
            "--run",
            str(tmp_path / "run"),
            "--limit",
            "64",
            "--epochs",
            "1",
            "--widths",
            "4,8",
            "--teacher",
            str(tmp_path / "absent.keras"),
        ]
    )
    assert code == 2
    assert not (tmp_path / "run" / "config.json").exists()


def test_a_bad_teacher_weight_is_refused_before_the_teacher_labels_any_face(fer_public: Path, tmp_path: Path) -> None:
    data = load(fer_public).subset(32, seed=1)
    teacher = _teacher(tmp_path / "teacher.keras")

    with pytest.raises(TeacherError, match="weight"):
        teacher_targets(tmp_path, teacher, data, 1.5, 2.0, 40)
    assert not (tmp_path / CACHE_FILE).exists()
