"""Readers for labelled face data: FER2013 ``.npz`` arrays, the Kaggle CSV, image folders.

Every reader returns a :class:`LabelledImages` of 48x48 uint8 faces in FER2013 class order.
Unreadable rows or files are collected in ``problems`` (with their name), never raised, so a
single bad file does not stop a retraining job.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from inference.classes import EMOTION_INDEX, EMOTIONS, NUM_CLASSES
from inference.preprocessing import IMAGE_SIZE

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "fer2013"
"""Where the FER2013 splits live as ``fer2013-<split>.npz``: the default of every command."""
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
# Kaggle's Usage column and common folder names, mapped to our split names.
SPLIT_ALIASES = {
    "training": "train",
    "train": "train",
    "publictest": "publictest",
    "val": "publictest",
    "validation": "publictest",
    "privatetest": "privatetest",
    "test": "privatetest",
}


class DatasetError(Exception):
    """The data set as a whole cannot be read (missing file, wrong layout)."""


@dataclass
class LabelledImages:
    images: npt.NDArray[np.uint8]
    labels: npt.NDArray[np.int64]
    source: str
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=NUM_CLASSES)
        return {name: int(counts[i]) for i, name in enumerate(EMOTIONS)}

    def stats(self) -> dict[str, object]:
        counts = self.class_counts()
        total = max(1, len(self))
        return {
            "source": self.source,
            "n": len(self),
            "counts": counts,
            "shares": {k: round(v / total, 4) for k, v in counts.items()},
            "pixel_mean": round(float(self.images.mean()), 3) if len(self) else None,
            "problems": len(self.problems),
        }

    def subset(self, n: int, seed: int = 0) -> LabelledImages:
        """Return a seeded, stratified-by-shuffle subset of at most ``n`` images."""
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.permutation(len(self))[:n])
        return LabelledImages(self.images[idx], self.labels[idx], f"{self.source}[:{n}]", list(self.problems))


def _fit48(img: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    if img.shape != (IMAGE_SIZE, IMAGE_SIZE):
        interp = cv2.INTER_AREA if img.shape[0] > IMAGE_SIZE else cv2.INTER_LINEAR
        img = np.asarray(cv2.resize(img, (IMAGE_SIZE, IMAGE_SIZE), interpolation=interp), dtype=np.uint8)
    return img


def _empty(source: str, problems: list[str]) -> LabelledImages:
    return LabelledImages(np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8), np.zeros((0,), np.int64), source, problems)


def read_npz(path: Path) -> LabelledImages:
    """Read an ``.npz`` with ``images`` (N, H, W) uint8 and ``labels`` (N,) in FER2013 order."""
    try:
        with np.load(path, allow_pickle=False) as data:
            images = np.asarray(data["images"])
            labels = np.asarray(data["labels"]).astype(np.int64)
    except (OSError, ValueError, KeyError) as exc:
        raise DatasetError(f"{path}: not a readable .npz with 'images' and 'labels' ({exc})") from exc
    if images.ndim != 3 or images.shape[0] != labels.shape[0]:
        raise DatasetError(f"{path}: images {images.shape} and labels {labels.shape} do not match")
    problems: list[str] = []
    bad = (labels < 0) | (labels >= NUM_CLASSES)
    if bad.any():
        problems += [f"{path}#{i}: label {labels[i]} out of range" for i in np.flatnonzero(bad)[:100]]
        images, labels = images[~bad], labels[~bad]
    if images.dtype != np.uint8:
        images = np.clip(images, 0, 255).astype(np.uint8)
    if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        images = np.stack([_fit48(im) for im in images]) if len(images) else images
    return LabelledImages(np.ascontiguousarray(images), labels, str(path), problems)


def read_csv(path: Path, split: str | None = None) -> LabelledImages:
    """Read the Kaggle ``fer2013.csv`` layout (``emotion,pixels,Usage``), optionally one split."""
    want = SPLIT_ALIASES.get(split.lower(), split.lower()) if split else None
    images: list[npt.NDArray[np.uint8]] = []
    labels: list[int] = []
    problems: list[str] = []
    try:
        handle = path.open(newline="")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot open ({exc})") from exc
    with handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"emotion", "pixels"} <= set(reader.fieldnames):
            raise DatasetError(f"{path}: expected columns emotion,pixels[,Usage], got {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            usage = (row.get("Usage") or "").strip().lower()
            if want and SPLIT_ALIASES.get(usage, usage) != want:
                continue
            try:
                label = int(row["emotion"])
                if not 0 <= label < NUM_CLASSES:
                    raise ValueError(f"label {label} out of range")
                pixels = np.array(row["pixels"].split(), dtype=np.float32)
                if pixels.size != IMAGE_SIZE * IMAGE_SIZE or pixels.min() < 0 or pixels.max() > 255:
                    raise ValueError(f"{pixels.size} pixels, expected {IMAGE_SIZE * IMAGE_SIZE} in 0..255")
            except (ValueError, TypeError, AttributeError) as exc:
                problems.append(f"{path}:{line}: {exc}")
                continue
            images.append(pixels.reshape(IMAGE_SIZE, IMAGE_SIZE).astype(np.uint8))
            labels.append(label)
    source = f"{path}" + (f"[{want}]" if want else "")
    if not images:
        return _empty(source, problems)
    return LabelledImages(np.stack(images), np.array(labels, np.int64), source, problems)


FaceCropper = Callable[[npt.NDArray[np.uint8]], "npt.NDArray[np.uint8] | None"]
"""Finds the main face in a grayscale photo and returns its 48x48 crop, or None if there is none."""


def read_folder(root: Path, split: str | None = None, face_cropper: FaceCropper | None = None) -> LabelledImages:
    """Read ``<root>/[<split>/]<class>/*.png|jpg``; unknown class folders are reported.

    Images that are not already 48x48 face crops go through ``face_cropper`` when one is given
    (the serving path's detector and crop), so photos from other data sets are framed like
    FER2013; an image where no face is found is used whole and reported.
    """
    base = root / split if split else root
    if not base.is_dir():
        raise DatasetError(f"{base}: not a directory")
    images: list[npt.NDArray[np.uint8]] = []
    labels: list[int] = []
    problems: list[str] = []
    for class_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        label = EMOTION_INDEX.get(class_dir.name.lower())
        if label is None:
            problems.append(f"{class_dir}: unknown class folder (expected one of {', '.join(EMOTIONS)})")
            continue
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            img = cv2.imread(str(file), cv2.IMREAD_GRAYSCALE)
            if img is None or img.size == 0:
                problems.append(f"{file}: unreadable image")
                continue
            gray = np.asarray(img, dtype=np.uint8)
            if face_cropper is not None and gray.shape != (IMAGE_SIZE, IMAGE_SIZE):
                face = face_cropper(gray)
                if face is None:
                    problems.append(f"{file}: no face found, using the whole image")
                else:
                    gray = face
            images.append(_fit48(gray))
            labels.append(label)
    if not images:
        return _empty(str(base), problems)
    return LabelledImages(np.stack(images), np.array(labels, np.int64), str(base), problems)


def load(path: str | Path, split: str | None = None, face_cropper: FaceCropper | None = None) -> LabelledImages:
    """Read labelled faces from any supported layout, chosen by what ``path`` is."""
    p = Path(path)
    if p.is_dir():
        return read_folder(p, split, face_cropper)
    if not p.exists():
        raise DatasetError(f"{p}: no such file or directory")
    if p.suffix.lower() == ".npz":
        return read_npz(p)
    if p.suffix.lower() == ".csv":
        return read_csv(p, split)
    raise DatasetError(f"{p}: unsupported data set format (use .npz, .csv or an image folder)")
