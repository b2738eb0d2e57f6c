from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

FER_DIR = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "fer2013"


@pytest.fixture(scope="session")
def fer_public() -> Path:
    path = FER_DIR / "fer2013-publictest.npz"
    if not path.exists():
        pytest.fail(f"FER2013 PublicTest missing at {path} (see docs/testing.md)")
    return path


@pytest.fixture
def small_npz(tmp_path: Path) -> Path:
    """Six labelled 48x48 faces in an .npz shaped like ours."""
    rng = np.random.default_rng(0)
    path = tmp_path / "small.npz"
    np.savez(path, images=rng.integers(0, 256, (6, 48, 48), dtype=np.uint8), labels=np.array([0, 1, 2, 3, 4, 6]))
    return path
