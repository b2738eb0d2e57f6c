"""The CLI (analyze, annotate, video timeline) and the serving format's parity with Keras."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from inference import registry
from inference.classes import EMOTIONS
from inference.cli import main
from inference.preprocessing import to_model_input
from inference.serving import ServingModel
from ml.datasets import load

PUBLIC_TEST = Path("/work/shared/datasets/fer2013/fer2013-publictest.npz")


def test_analyze_prints_one_json_object_per_file(
    model_root: Path, tmp_path: Path, astronaut_jpeg: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(astronaut_jpeg)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    assert main(["analyze", str(photo), str(broken), "--json"]) == 1  # one file failed
    lines = capsys.readouterr().out.strip().splitlines()
    good, bad = (json.loads(line) for line in lines)
    assert good["path"] == str(photo) and len(good["faces"]) == 1
    face = good["faces"][0]
    assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"])
    assert 0 < face["score"] <= 1
    assert set(face["emotions"]) == set(EMOTIONS)
    assert face["dominant"] == max(face["emotions"], key=face["emotions"].get)
    assert bad["path"] == str(broken) and bad["faces"] == [] and "corrupt" in bad["error"]


def test_analyze_annotates_the_image_and_prints_text(
    model_root: Path, tmp_path: Path, astronaut_jpeg: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(astronaut_jpeg)
    out = tmp_path / "annotated.png"
    assert main(["analyze", str(photo), "--annotate", str(out)]) == 0
    text = capsys.readouterr().out
    assert "1 face" in text and "box [" in text and str(out) in text
    drawn = cv2.imread(str(out))
    original = cv2.imdecode(np.frombuffer(astronaut_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert drawn is not None and original is not None
    assert drawn.shape == original.shape
    assert (np.abs(drawn.astype(int) - original.astype(int)).sum(axis=2) > 60).mean() > 0.005  # box and label


def write_video(path: Path, frames: list[npt.NDArray[np.uint8]], fps: int) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()


def test_video_prints_a_per_second_timeline(
    model_root: Path, tmp_path: Path, astronaut: npt.NDArray[np.uint8], capsys: pytest.CaptureFixture[str]
) -> None:
    face = np.asarray(cv2.resize(astronaut, (320, 320)), dtype=np.uint8)
    blank = np.full_like(face, 90)
    video = tmp_path / "call.avi"
    write_video(video, [face] * 20 + [blank] * 10, fps=10)  # 2 s with a face, then 1 s without
    assert main(["video", str(video), "--fps", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames_analysed"] == 6 and result["sample_fps"] == 2
    seconds = result["timeline"]
    assert [s["second"] for s in seconds] == [0, 1, 2]
    assert [s["frames_with_face"] for s in seconds] == [2, 2, 0]
    assert seconds[0]["dominant"] in EMOTIONS and seconds[2]["dominant"] is None
    assert abs(sum(seconds[0]["emotions"].values()) - 1) < 1e-3
    assert main(["video", str(video), "--fps", "1"]) == 0
    text = capsys.readouterr().out
    assert "00:00" in text and "00:02  no face" in text
    assert main(["video", str(tmp_path / "missing.mp4")]) == 1


def test_the_onnx_serving_file_matches_keras_on_public_test_faces(model_root: Path) -> None:
    import keras

    info = registry.get("tiny-1", model_root)
    faces = (
        load(PUBLIC_TEST).subset(128, seed=0).images
        if PUBLIC_TEST.exists()
        else (np.random.default_rng(0).integers(0, 256, (128, 48, 48), dtype=np.uint8))
    )
    batch = to_model_input(faces)
    expected = np.asarray(keras.models.load_model(info.keras_path, compile=False)(batch, training=False))
    served = ServingModel.load(info, threads=1)
    assert served.backend == "onnx"
    got = served.logits(batch)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
    assert (got.argmax(1) == expected.argmax(1)).all()
    # Single faces and empty batches take the same path.
    np.testing.assert_allclose(served.logits(batch[:1]), expected[:1], atol=1e-4, rtol=1e-4)
    assert served.logits(batch[:0]).shape == (0, 7)


def test_the_keras_fallback_serves_the_same_logits(model_root: Path) -> None:
    from dataclasses import replace

    info = registry.get("tiny-1", model_root)
    keras_info = replace(info, serving={"format": "keras", "file": info.keras_file})
    batch = to_model_input(np.random.default_rng(1).integers(0, 256, (16, 48, 48), dtype=np.uint8))
    fallback = ServingModel.load(keras_info)
    assert fallback.backend == "keras"
    np.testing.assert_allclose(fallback.logits(batch), ServingModel.load(info).logits(batch), atol=1e-4)
    with pytest.raises(registry.RegistryError, match="unknown serving format"):
        ServingModel.load(replace(info, serving={"format": "pickle", "file": "x"}))
    with pytest.raises(registry.RegistryError, match="missing"):
        ServingModel.load(replace(info, serving={"format": "onnx", "file": "gone.onnx"}))
