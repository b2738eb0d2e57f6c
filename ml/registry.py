"""Writing the model registry: register a version's metadata, activate a version, roll back.

Reading it (versions, the ``ACTIVE`` and ``LIVE`` pointers, calibration) is :mod:`inference.registry`'s;
the layout of the registry folder is described there.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from inference.registry import (
    CHANNELS,
    POINTERS,
    Channel,
    ModelInfo,
    RegistryError,
    get,
    history,
    live_pointer,
    model_dir,
    serving_version,
    sha256,
    verify,
)


def write_info(info: ModelInfo) -> ModelInfo:
    """Compute checksums of the version's files and write ``metadata.json``."""
    checksums = {
        p.name: sha256(p)
        for p in sorted(info.path.iterdir())
        if p.is_file() and p.name != "metadata.json" and p.suffix in {".keras", ".onnx", ".tflite"}
    }
    info = ModelInfo(**{**info.__dict__, "checksums": checksums})
    (info.path / "metadata.json").write_text(json.dumps(info.to_json(), indent=2) + "\n")
    return info


def _log(root: Path, version: str, actor: str, channel: Channel) -> None:
    suffix = "" if channel == "active" else f" {channel}"
    with (root / "HISTORY").open("a") as log:
        log.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {version} {actor.replace(' ', '_')}{suffix}\n")


def activate(version: str, root: Path | None = None, actor: str = "cli", channel: Channel = "active") -> ModelInfo:
    """Verify ``version`` and make it serve ``channel`` (atomic pointer swap, logged with who)."""
    if channel not in CHANNELS:
        raise RegistryError(f"unknown channel {channel!r}; expected one of {CHANNELS}")
    root = root or model_dir()
    info = get(version, root)
    verify(info)
    tmp = root / f"{POINTERS[channel]}.tmp"
    tmp.write_text(version + "\n")
    os.replace(tmp, root / POINTERS[channel])
    _log(root, version, actor, channel)
    return info


def follow_active(root: Path | None = None, actor: str = "cli") -> None:
    """Remove the ``LIVE`` pointer: live frames are served by the active version again (logged as ``-``)."""
    root = root or model_dir()
    if live_pointer(root):
        (root / POINTERS["live"]).unlink()
        _log(root, "-", actor, "live")


def restore_previous(root: Path | None = None, actor: str = "cli", channel: Channel = "active") -> ModelInfo:
    """Re-activate, for ``channel``, the version that served it before the current one."""
    root = root or model_dir()
    current = serving_version(channel, root)
    for version in reversed(history(root, channel)):
        # Versions deleted from the registry since they were active are skipped.
        if version not in (current, "-") and (root / version / "metadata.json").is_file():
            return activate(version, root, actor, channel)
    raise RegistryError(f"no previous model version to restore for the {channel} channel")
