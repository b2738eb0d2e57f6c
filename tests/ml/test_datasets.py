from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.datasets import DatasetError, load


def test_it_reads_the_fer2013_arrays_with_their_class_counts(fer_public: Path) -> None:
    data = load(fer_public)
    assert data.images.shape == (3589, 48, 48)
    assert data.images.dtype == np.uint8
    assert data.class_counts() == {
        "angry": 467,
        "disgust": 56,
        "fear": 496,
        "happy": 895,
        "sad": 653,
        "surprise": 415,
        "neutral": 607,
    }
    assert data.stats()["n"] == 3589


def test_it_reads_the_kaggle_csv_layout_and_reports_bad_rows_by_line(tmp_path: Path) -> None:
    good = " ".join(["128"] * 48 * 48)
    csv = tmp_path / "fer2013.csv"
    csv.write_text(
        "emotion,pixels,Usage\n"
        f"3,{good},Training\n"
        f"9,{good},Training\n"  # label out of range
        "4,1 2 3,Training\n"  # too few pixels
        f"5,{good},PublicTest\n"
    )
    train = load(csv, "Training")
    assert len(train) == 1 and train.labels.tolist() == [3]
    assert [p.split(": ", 1)[0] for p in train.problems] == [f"{csv}:3", f"{csv}:4"]
    assert load(csv, "PublicTest").labels.tolist() == [5]
    assert len(load(csv)) == 2


def test_it_reads_an_image_folder_tree_and_names_unreadable_files(tmp_path: Path) -> None:
    for split, cls in [("train", "happy"), ("train", "sad"), ("val", "happy")]:
        (tmp_path / split / cls).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / split / cls / "a.png"), np.full((64, 64), 100, np.uint8))
    (tmp_path / "train" / "sad" / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "train" / "bored").mkdir()

    data = load(tmp_path, "train")
    assert data.images.shape == (2, 48, 48)
    assert sorted(data.labels.tolist()) == [3, 4]
    assert any("broken.jpg" in p for p in data.problems)
    assert any("bored" in p and "unknown class" in p for p in data.problems)


def test_it_rejects_unknown_formats_and_missing_files_with_their_name(tmp_path: Path) -> None:
    bad = tmp_path / "data.parquet"
    bad.write_bytes(b"x")
    with pytest.raises(DatasetError, match="data.parquet"):
        load(bad)
    with pytest.raises(DatasetError, match="nope.npz"):
        load(tmp_path / "nope.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK garbage")
    with pytest.raises(DatasetError, match="corrupt.npz"):
        load(corrupt)


def test_subsets_are_deterministic_for_a_seed(fer_public: Path) -> None:
    data = load(fer_public)
    a, b, c = data.subset(50, seed=1), data.subset(50, seed=1), data.subset(50, seed=2)
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)


def test_photo_folders_are_cropped_to_the_detected_face_like_serving_does(tmp_path: Path) -> None:
    from skimage import data as samples

    from ml.cli import detector_cropper

    (tmp_path / "happy").mkdir()
    (tmp_path / "neutral").mkdir()
    astronaut = cv2.cvtColor(samples.astronaut(), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(tmp_path / "happy" / "astronaut.jpg"), astronaut)
    cv2.imwrite(str(tmp_path / "neutral" / "wall.png"), np.full((120, 160), 90, np.uint8))

    cropped = load(tmp_path, face_cropper=detector_cropper())
    whole = load(tmp_path)
    assert cropped.images.shape == (2, 48, 48)
    assert [p for p in cropped.problems if "astronaut" in p] == []
    assert any("wall.png" in p and "no face found" in p for p in cropped.problems)
    happy = cropped.labels.tolist().index(3)
    assert not np.array_equal(cropped.images[happy], whole.images[happy])
