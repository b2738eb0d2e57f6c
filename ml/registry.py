"""Writing the model registry: register a version's metadata, activate a version, roll back.

Reading it (versions, the ``ACTIVE`` pointer, calibration) is :mod:`inference.registry`'s;
the layout of the registry folder is described there.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from inference.registry import (
    ModelInfo,
    RegistryError,
    active_version,
    get,
    history,
    model_dir,
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


def activate(version: str, root: Path | None = None, actor: str = "cli") -> ModelInfo:
    """Verify ``version`` and make it the active one (atomic pointer swap, logged with who)."""
    root = root or model_dir()
    info = get(version, root)
    verify(info)
    tmp = root / "ACTIVE.tmp"
    tmp.write_text(version + "\n")
    os.replace(tmp, root / "ACTIVE")
    with (root / "HISTORY").open("a") as log:
        log.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {version} {actor.replace(' ', '_')}\n")
    return info


def restore_previous(root: Path | None = None, actor: str = "cli") -> ModelInfo:
    """Re-activate the version that was active before the current one."""
    root = root or model_dir()
    current = active_version(root)
    for version in reversed(history(root)):
        # Versions deleted from the registry since they were active are skipped.
        if version != current and (root / version / "metadata.json").is_file():
            return activate(version, root, actor)
    raise RegistryError("no previous model version to restore")
