from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from ml.datasets import load
from ml.model import ArchConfig
from ml.train import RunMismatch, TrainConfig, _datasets, stream_seed, train

TINY = TrainConfig(epochs=1, batch_size=64, cycle_epochs=1, arch=ArchConfig(widths=(4, 8, 8, 16), dense=16))


def test_a_tiny_run_trains_checkpoints_every_epoch_and_resumes_where_it_stopped(
    fer_public: Path, tmp_path: Path
) -> None:
    data = load(fer_public)
    train_data, val_data = data.subset(320, seed=1), data.subset(128, seed=2)
    run = tmp_path / "run"
    logs: list[str] = []

    first = train(train_data, val_data, run, TINY, log=logs.append)
    assert first.epochs_done == 1
    assert (run / "last.keras").exists() and (run / "best.keras").exists()
    assert 0.0 <= first.best_val_accuracy <= 1.0
    assert any(line.startswith("epoch 1/1") and "min left" in line for line in logs)

    # Asking for more epochs of the same recipe continues after epoch 1 instead of restarting.
    second = train(train_data, val_data, run, replace(TINY, epochs=2), log=logs.append)
    assert any("resuming" in line and "after epoch 1" in line for line in logs)
    assert second.epochs_done == 2
    assert [h["epoch"] for h in json.loads((run / "state.json").read_text())["history"]] == [1, 2]

    with pytest.raises(RunMismatch):
        train(train_data, val_data, run, replace(TINY, learning_rate=0.5))


def test_resumed_and_warm_started_runs_draw_new_batches_instead_of_replaying_the_first_epochs(
    fer_public: Path,
) -> None:
    import numpy as np

    fresh, resumed = stream_seed(TINY, 0), stream_seed(TINY, 1)
    warm = stream_seed(replace(TINY, init_from="models/x/model.keras"), 0)
    assert len({fresh, resumed, warm}) == 3
    assert stream_seed(TINY, 1) == resumed  # still deterministic

    data = load(fer_public).subset(128, seed=1)
    first_batch = [next(iter(_datasets(data, data, TINY, seed)[0]))[0].numpy() for seed in (fresh, resumed, fresh)]
    assert not np.allclose(first_batch[0], first_batch[1])
    assert np.array_equal(first_batch[0], first_batch[2])


def test_a_run_can_start_from_another_models_weights_with_a_fresh_schedule(fer_public: Path, tmp_path: Path) -> None:
    import keras
    import numpy as np

    data = load(fer_public)
    train_data, val_data = data.subset(128, seed=1), data.subset(64, seed=2)
    base = train(train_data, val_data, tmp_path / "base", TINY, log=lambda _: None)
    logs: list[str] = []
    warm_cfg = replace(TINY, epochs=0, init_from=str(base.best_path))  # no epochs: just the start point

    warm = train(train_data, val_data, tmp_path / "warm", warm_cfg, log=logs.append)
    tail = train(
        train_data, val_data, tmp_path / "tail", replace(TINY, epochs=3, cycle_epochs=3, keep_last=2), log=logs.append
    )
    assert sorted(p.name for p in tail.run_dir.glob("snapshot_*.keras")) == ["snapshot_002.keras", "snapshot_003.keras"]
    # Snapshots are for averaging: saved without the optimizer's slots that only last.keras needs.
    assert not keras.models.load_model(tail.run_dir / "snapshot_003.keras").compiled
    assert not keras.models.load_model(tail.best_path).compiled
    assert keras.models.load_model(tail.run_dir / "last.keras").compiled  # resuming needs the optimizer

    assert any(f"weights from {base.best_path}" in line for line in logs)
    started, source = keras.models.load_model(warm.best_path), keras.models.load_model(base.best_path)
    assert all(np.array_equal(a, b) for a, b in zip(started.get_weights(), source.get_weights(), strict=True))
    # The recipe records where the run started from.
    assert json.loads((tmp_path / "warm" / "config.json").read_text())["init_from"] == str(base.best_path)


def test_averaging_checkpoints_averages_weights_and_reestimates_batch_norm(fer_public: Path, tmp_path: Path) -> None:
    import keras
    import numpy as np

    from inference.preprocessing import to_model_input
    from ml.average import CheckpointMismatch, average_checkpoints

    data = load(fer_public)
    train_data, val_data = data.subset(128, seed=1), data.subset(64, seed=2)
    first = train(train_data, val_data, tmp_path / "a", TINY, log=lambda _: None).best_path
    second = train(train_data, val_data, tmp_path / "b", replace(TINY, seed=7), log=lambda _: None).best_path
    bn_faces = data.subset(256, seed=3)

    out = average_checkpoints([first, second], bn_faces, tmp_path / "avg.keras", batch_size=128, log=lambda _: None)

    averaged, a, b = (keras.models.load_model(p, compile=False) for p in (out, first, second))
    kernel = averaged.get_layer("s0_conv0").get_weights()[0]
    assert np.allclose(
        kernel, (a.get_layer("s0_conv0").get_weights()[0] + b.get_layer("s0_conv0").get_weights()[0]) / 2
    )
    # The first batch norm's moving mean is the mean of its inputs over the faces (two batches).
    conv_out = keras.Model(averaged.input, averaged.get_layer("s0_conv0").output)
    x = to_model_input(bn_faces.images)
    expected = np.mean([conv_out(x[i : i + 128]).numpy().mean(axis=(0, 1, 2)) for i in (0, 128)], axis=0)
    assert np.allclose(averaged.get_layer("s0_bn0").moving_mean.numpy(), expected, atol=1e-5)
    assert np.isfinite(averaged.predict(x[:8], verbose=0)).all()

    other = train(train_data, val_data, tmp_path / "c", replace(TINY, arch=ArchConfig(widths=(4, 8, 8, 8), dense=16)))
    with pytest.raises(CheckpointMismatch):
        average_checkpoints([first, other.best_path], bn_faces, tmp_path / "bad.keras", log=lambda _: None)


def test_a_run_started_before_newer_recipe_keys_existed_still_resumes(fer_public: Path, tmp_path: Path) -> None:
    data = load(fer_public)
    train_data, val_data = data.subset(128, seed=1), data.subset(64, seed=2)
    run = tmp_path / "run"
    train(train_data, val_data, run, TINY, log=lambda _: None)
    recipe = json.loads((run / "config.json").read_text())
    del recipe["teacher"], recipe["augment"]["camera_prob"]  # as written before these existed
    (run / "config.json").write_text(json.dumps(recipe))
    logs: list[str] = []

    resumed = train(train_data, val_data, run, replace(TINY, epochs=2), log=logs.append)

    assert resumed.epochs_done == 2 and any("after epoch 1" in line for line in logs)


def test_a_bfloat16_run_resumes_in_bfloat16_and_saves_float32_models_for_export(
    fer_public: Path, tmp_path: Path
) -> None:
    import keras
    import numpy as np

    data = load(fer_public)
    train_data, val_data = data.subset(192, seed=1), data.subset(64, seed=2)
    run = tmp_path / "run"
    cfg = replace(TINY, precision="mixed_bfloat16", keep_last=1)

    train(train_data, val_data, run, cfg, log=lambda _: None)
    train(train_data, val_data, run, replace(cfg, epochs=2), log=lambda _: None)

    # The run leaves the caller's policy as it found it.
    assert keras.mixed_precision.global_policy().name == "float32"
    assert keras.models.load_model(run / "last.keras").layers[1].dtype_policy.name == "mixed_bfloat16"
    for saved in ("best.keras", "snapshot_002.keras"):
        model = keras.models.load_model(run / saved, compile=False)
        assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
        assert all(w.dtype == np.float32 for w in model.get_weights())
    assert json.loads((run / "config.json").read_text())["precision"] == "mixed_bfloat16"
