"""Fixtures for the inference tests: a tiny registered model and real sample photographs.

The tiny model is an untrained moodnet (random weights, 2 narrow stages) exported through the
real ``ml.convert.convert`` path into a temporary registry, so tests exercise the production
code without training anything. Tests that need a *trained* model use the repository's
``models/`` registry and are skipped while it has no active version.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from inference import registry
from ml.registry import activate
from tests.model_registry import model_dir, register_tiny


@pytest.fixture(scope="session")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary registry with tiny versions ``tiny-1`` (active) and ``tiny-2``, set as $MOODSAAS_MODEL_DIR."""
    root = tmp_path_factory.mktemp("models")
    register_tiny(root, "tiny-1", 1)
    register_tiny(root, "tiny-2", 2)
    activate("tiny-1", root)
    with model_dir(root):
        yield root


@pytest.fixture(scope="session")
def astronaut() -> npt.NDArray[np.uint8]:
    """scikit-image's astronaut photo (Eileen Collins, smiling), as BGR."""
    from skimage import data

    return np.ascontiguousarray(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="session")
def astronaut_png(astronaut: npt.NDArray[np.uint8]) -> bytes:
    return bytes(cv2.imencode(".png", astronaut)[1])


@pytest.fixture(scope="session")
def astronaut_jpeg(astronaut: npt.NDArray[np.uint8]) -> bytes:
    return bytes(cv2.imencode(".jpg", astronaut, [cv2.IMWRITE_JPEG_QUALITY, 92])[1])


@pytest.fixture(scope="session")
def hopper() -> npt.NDArray[np.uint8]:
    """Matplotlib's Grace Hopper portrait (a face under a cap, behind glasses), as BGR."""
    from matplotlib import cbook

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return np.asarray(cv2.imread(str(path), cv2.IMREAD_COLOR), np.uint8)


@pytest.fixture
def trained_model_root() -> Path:
    """The repository's registry, if a trained model is active there."""
    root = registry.REPO_MODELS
    if not (root / "ACTIVE").is_file():
        pytest.skip("no trained model is registered in models/ yet")
    return root


@pytest.fixture
def copy_registry(model_root: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny registry that a test may re-activate freely."""
    target = tmp_path / "models"
    shutil.copytree(model_root, target)
    return target
