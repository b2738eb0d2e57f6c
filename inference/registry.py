"""Reading the on-disk model registry: versioned model folders and the pointers of two channels.

Layout of ``model_dir`` (``$MOODSAAS_MODEL_DIR``, default ``<repo>/models``)::

    models/
      ACTIVE                 # the active version's name, one line: uploads, videos, analyse
      LIVE                   # optional: the version for live camera frames (else the active one)
      HISTORY                # append-only activation log: "<utc time> <version> <actor> [live]"
      <version>/
        metadata.json        # see ModelInfo; checksums of every file below
        model.keras          # the trained Keras model (logits output)
        <serving file>       # fast serving format of the same weights (e.g. model.onnx)
        MODEL_CARD.md, report.json, *.png

Serving code reads :func:`active` and compares :func:`serving_version` cheaply between
batches, so activating or restoring a version needs no code change and no restart. Writing
(registering a version, activation, rollback) is ``ml.registry``'s.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from inference.classes import EMOTIONS
from inference.preprocessing import PreprocessParams

REPO_MODELS = Path(__file__).resolve().parent.parent / "models"

Channel = Literal["active", "live"]
"""Which frames a version serves: ``active`` (uploaded images, videos, the analyse endpoint, and live
frames unless ``live`` names another) or ``live`` (frames streamed from an agent's camera, many per
second: a cheaper network may serve them while uploads keep the most accurate one)."""

CHANNELS: tuple[Channel, ...] = ("active", "live")
POINTERS: dict[Channel, str] = {"active": "ACTIVE", "live": "LIVE"}


class RegistryError(Exception):
    """A version is missing, corrupt or cannot be activated."""


def model_dir() -> Path:
    return Path(os.environ.get("MOODSAAS_MODEL_DIR") or REPO_MODELS)


@dataclass(frozen=True)
class ModelInfo:
    version: str
    path: Path
    classes: tuple[str, ...]
    preprocess: PreprocessParams
    temperature: float
    class_bias: tuple[float, ...]
    keras_file: str
    serving: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    tta_temperatures: dict[str, float] = field(default_factory=dict)
    """Temperature fitted for each TTA mode: averaging views changes how confident the mean is."""

    def temperature_for(self, tta: str) -> float:
        return float(self.tta_temperatures.get(tta, self.temperature))

    @property
    def serving_path(self) -> Path:
        return self.path / str(self.serving["file"])

    @property
    def keras_path(self) -> Path:
        return self.path / self.keras_file

    def probabilities(self, logits: npt.NDArray[np.floating[Any]], tta: str = "none") -> npt.NDArray[np.float32]:
        """Calibrated class probabilities of each view: ``softmax(logits / T[tta] + class_bias)``.

        The one place where raw network outputs become probabilities, used by evaluation
        and by serving alike; average the result over the ``tta`` mode's views.
        """
        return calibrated_softmax(logits, self.temperature_for(tta), self.class_bias)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "classes": list(self.classes),
            "preprocess": self.preprocess.as_dict(),
            "temperature": self.temperature,
            "tta_temperatures": self.tta_temperatures,
            "class_bias": list(self.class_bias),
            "keras_file": self.keras_file,
            "serving": self.serving,
            "metrics": self.metrics,
            "checksums": self.checksums,
            "created_at": self.created_at,
            "extra": self.extra,
        }


def calibrated_softmax(
    logits: npt.NDArray[np.floating[Any]], temperature: float = 1.0, class_bias: tuple[float, ...] | None = None
) -> npt.NDArray[np.float32]:
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    if class_bias is not None:
        z = z + np.asarray(class_bias, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    probs: npt.NDArray[np.float32] = (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
    return probs


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_info(version_dir: Path) -> ModelInfo:
    meta_file = version_dir / "metadata.json"
    try:
        meta = json.loads(meta_file.read_text())
        return ModelInfo(
            version=str(meta["version"]),
            path=version_dir,
            classes=tuple(meta["classes"]),
            preprocess=PreprocessParams(**meta["preprocess"]),
            temperature=float(meta["temperature"]),
            class_bias=tuple(float(b) for b in meta.get("class_bias", [0.0] * len(EMOTIONS))),
            keras_file=str(meta["keras_file"]),
            serving=dict(meta["serving"]),
            metrics=dict(meta.get("metrics", {})),
            checksums=dict(meta.get("checksums", {})),
            created_at=str(meta.get("created_at", "")),
            extra=dict(meta.get("extra", {})),
            tta_temperatures={str(k): float(v) for k, v in meta.get("tta_temperatures", {}).items()},
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RegistryError(f"{meta_file}: unreadable model metadata ({exc})") from exc


def verify(info: ModelInfo) -> None:
    """Raise :class:`RegistryError` unless every recorded file matches its checksum."""
    for name, expected in info.checksums.items():
        path = info.path / name
        if not path.exists() or sha256(path) != expected:
            raise RegistryError(f"{info.version}: {name} is missing or does not match its checksum")
    if tuple(info.classes) != EMOTIONS:
        raise RegistryError(f"{info.version}: class order {info.classes} is not FER2013's {EMOTIONS}")


def versions(root: Path | None = None) -> list[ModelInfo]:
    root = root or model_dir()
    if not root.is_dir():
        return []
    return sorted(
        (load_info(p) for p in root.iterdir() if (p / "metadata.json").is_file()),
        key=lambda i: (i.created_at, i.version),
    )


def get(version: str, root: Path | None = None) -> ModelInfo:
    root = root or model_dir()
    if not version or "/" in version or version.startswith("."):
        raise RegistryError(f"invalid model version {version!r}")
    path = root / version
    if not (path / "metadata.json").is_file():
        raise RegistryError(f"no model version {version!r} in {root}")
    return load_info(path)


def active_version(root: Path | None = None) -> str:
    """Return the active version's name (one small file read; cheap enough to poll)."""
    pointer = (root or model_dir()) / POINTERS["active"]
    try:
        return pointer.read_text().strip()
    except OSError as exc:
        raise RegistryError(f"no active model: {pointer} is missing") from exc


def live_pointer(root: Path | None = None) -> str:
    """The version the ``LIVE`` pointer names, or ``""`` when live frames follow the active version."""
    try:
        return ((root or model_dir()) / POINTERS["live"]).read_text().strip()
    except FileNotFoundError:
        return ""


def serving_version(channel: Channel = "active", root: Path | None = None) -> str:
    """The version serving ``channel`` (at most two small file reads; cheap enough to poll)."""
    if channel not in CHANNELS:
        raise RegistryError(f"unknown channel {channel!r}; expected one of {CHANNELS}")
    return (channel == "live" and live_pointer(root)) or active_version(root)


def active(root: Path | None = None) -> ModelInfo:
    return get(active_version(root), root)


def history(root: Path | None = None, channel: Channel = "active") -> list[str]:
    """Versions activated for ``channel``, oldest first (lines without a channel are ``active``)."""
    log = (root or model_dir()) / "HISTORY"
    if not log.exists():
        return []
    versions = []
    for line in log.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 2 and (fields[3] if len(fields) > 3 else "active") == channel:
            versions.append(fields[1])
    return versions
