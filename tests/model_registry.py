"""Test helpers for model registries: tiny untrained models through the real export path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from inference import registry
from inference.classes import EMOTIONS
from inference.preprocessing import DEFAULT_PARAMS
from ml.registry import write_info

TINY_ARCH = {"widths": (8, 16), "dense": 16}


def register_tiny(root: Path, version: str, seed: int) -> registry.ModelInfo:
    """Build, convert and register an untrained tiny moodnet as ``version`` under ``root``."""
    import keras

    from ml.convert import convert
    from ml.model import ArchConfig, build_model

    keras.utils.set_random_seed(seed)
    target = root / version
    target.mkdir(parents=True)
    build_model(ArchConfig(**TINY_ARCH)).save(target / "model.keras")  # type: ignore[arg-type]
    serving = convert(target / "model.keras", target)
    info = registry.ModelInfo(
        version=version,
        path=target,
        classes=EMOTIONS,
        preprocess=DEFAULT_PARAMS,
        temperature=1.0,
        class_bias=(0.0,) * len(EMOTIONS),
        keras_file="model.keras",
        serving=serving,
        created_at=f"2026-01-0{seed}T00:00:00+00:00",
    )
    return write_info(info)


@contextmanager
def model_dir(root: Path) -> Iterator[Path]:
    """Point $MOODSAAS_MODEL_DIR (this process and workers it starts) at ``root`` for the block."""
    previous = os.environ.get("MOODSAAS_MODEL_DIR")
    os.environ["MOODSAAS_MODEL_DIR"] = str(root)
    try:
        yield root
    finally:
        if previous is None:
            os.environ.pop("MOODSAAS_MODEL_DIR", None)
        else:
            os.environ["MOODSAAS_MODEL_DIR"] = previous
