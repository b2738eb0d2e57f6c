from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.cli import main
from ml.convert import convert
from ml.ensemble import EnsembleMismatch, combine
from ml.model import ArchConfig, build_model

TINY = ArchConfig(widths=(4, 8), dense=8)


def _member(path: Path, arch: ArchConfig = TINY, seed: int = 0) -> Path:
    import keras

    keras.utils.set_random_seed(seed)
    build_model(arch).save(path)
    return path


def test_an_ensemble_outputs_the_mean_of_its_members_logits_and_survives_a_round_trip(tmp_path: Path) -> None:
    import keras

    first, second = _member(tmp_path / "a.keras", seed=1), _member(tmp_path / "b.keras", seed=2)

    out = combine([first, second], tmp_path / "ensemble.keras")

    ensemble, a, b = (keras.models.load_model(p, compile=False) for p in (out, first, second))
    x = np.random.default_rng(0).random((5, 40, 40, 1), dtype=np.float32)
    expected = (np.asarray(a(x, training=False)) + np.asarray(b(x, training=False))) / 2
    assert not np.allclose(np.asarray(a(x, training=False)), np.asarray(b(x, training=False)))
    assert np.allclose(np.asarray(ensemble(x, training=False)), expected, atol=1e-6)
    assert ensemble.input_shape == (None, 40, 40, 1) and ensemble.output_shape == (None, 7)


def test_an_ensemble_converts_to_one_onnx_graph_with_the_same_logits(tmp_path: Path) -> None:
    out = combine([_member(tmp_path / "a.keras", seed=1), _member(tmp_path / "b.keras", seed=2)], tmp_path / "e.keras")

    meta = convert(out, tmp_path / "serving")  # raises if ONNX and Keras logits differ

    assert meta["max_abs_logit_diff_vs_keras"] < 1e-4
    assert (tmp_path / "serving" / meta["file"]).exists()


def test_members_with_another_input_size_or_a_single_member_are_refused(tmp_path: Path) -> None:
    first = _member(tmp_path / "a.keras")
    other = _member(tmp_path / "b.keras", ArchConfig(widths=(4, 8), dense=8, input_size=48))

    with pytest.raises(EnsembleMismatch, match="b.keras"):
        combine([first, other], tmp_path / "bad.keras")
    with pytest.raises(EnsembleMismatch, match="at least two"):
        combine([first], tmp_path / "bad.keras")
    assert not (tmp_path / "bad.keras").exists()


def test_the_cli_combines_models_and_reports_a_mismatch_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = _member(tmp_path / "a.keras", seed=1), _member(tmp_path / "b.keras", seed=2)
    other = _member(tmp_path / "c.keras", ArchConfig(widths=(4, 8), dense=8, input_size=48))

    assert main(["ensemble", str(first), str(second), "--out", str(tmp_path / "e.keras")]) == 0
    assert (tmp_path / "e.keras").exists()
    assert main(["ensemble", str(first), str(other), "--out", str(tmp_path / "bad.keras")]) != 0
    assert "c.keras" in capsys.readouterr().err
