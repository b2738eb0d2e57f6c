"""Error texts reach users (upload refusals, failed live frames): they never name a server path."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

import inference
from inference.classify import Classifier
from inference.errors import InferenceError
from inference.video import analyse_video, sampled_frames

ABSOLUTE_PATH = re.compile(r"(^|[\s'\"(:=])/[\w.-]+")


def assert_no_path(message: str, *paths: Path) -> None:
    assert message, "an error needs a message"
    for path in paths:
        assert str(path) not in message, message
        assert path.name not in message, message
    assert not ABSOLUTE_PATH.search(message), message


def a_video(path: Path, astronaut: npt.NDArray[np.uint8], frames: int = 6) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 3.0, (256, 256))
    assert writer.isOpened()
    small = cv2.resize(astronaut, (256, 256))
    for _ in range(frames):
        writer.write(small)
    writer.release()
    return path


def video_error(path: Path) -> str:
    with pytest.raises(inference.VideoError) as caught:
        list(sampled_frames(path, 2.0))
    return str(caught.value)


def test_video_errors_do_not_name_the_temporary_file(
    tmp_path: Path, model_root: Path, astronaut: npt.NDArray[np.uint8]
) -> None:
    upload = tmp_path / "upload-8c1f0e.mp4"
    assert_no_path(video_error(upload), upload)  # missing
    upload.write_bytes(b"this is not a video at all" * 40)
    assert_no_path(video_error(upload), upload)  # unknown container
    whole = a_video(tmp_path / "whole.mp4", astronaut)
    assert len(list(sampled_frames(whole, 2.0))) > 0
    upload.write_bytes(whole.read_bytes()[:48])  # the container's first box, then nothing
    assert_no_path(video_error(upload), upload)
    with pytest.raises(inference.VideoError) as caught:
        analyse_video(upload)
    assert_no_path(str(caught.value), upload)


def test_analysing_a_missing_image_file_does_not_repeat_its_path(tmp_path: Path, model_root: Path) -> None:
    missing = tmp_path / "photos" / "customer-42.jpg"
    with pytest.raises(InferenceError, match="cannot read the image file") as caught:
        inference.analyse_file(missing)
    assert_no_path(str(caught.value), missing)


def test_a_missing_or_broken_model_is_reported_without_registry_paths(copy_registry: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty-registry"
    empty.mkdir()
    with pytest.raises(inference.ModelUnavailable) as caught:
        Classifier(root=empty, threads=1).model()
    assert_no_path(str(caught.value), empty)

    (copy_registry / "ACTIVE").write_text("tiny-2\n")
    shutil.rmtree(copy_registry / "tiny-2")
    (copy_registry / "tiny-2").mkdir()
    (copy_registry / "tiny-2" / "metadata.json").write_text("{not json")
    with pytest.raises(inference.ModelUnavailable) as caught:
        Classifier(root=copy_registry, threads=1).model()
    assert_no_path(str(caught.value), copy_registry)
    assert "cannot be loaded" in str(caught.value)


def test_image_errors_carry_no_path(model_root: Path, astronaut_jpeg: bytes) -> None:
    for data in (b"", b"GIF89a" + b"\x00" * 100, astronaut_jpeg[:2000], astronaut_jpeg[:5000] + b"\xff\xd9"):
        with pytest.raises(InferenceError) as caught:
            inference.analyse_image(data)
        assert_no_path(str(caught.value))
