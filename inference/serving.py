"""Run a registered emotion model version: the serving runtime for every format it ships in.

``ServingModel`` runs whichever format the version's metadata names (``ml.convert`` writes
the files):

- ``onnx``: ONNX Runtime, float32. On this AVX2-only CPU it served the 1.44M parameter CNN
  several times faster than Keras and matches it to ~1e-5 in logits.
- ``onnx-int8``: the same graph with static post-training int8 quantization (QDQ, per-channel
  weights, calibrated on FER2013 training faces). ``ml export`` serves it only when its accuracy
  on the validation split is within half a point of the float graph's; the measurement is kept
  as ``int8_parity`` in the version's serving metadata.
- ``keras``: the Keras model itself, called directly (never ``Model.predict``, which costs
  ~50 ms per call). The fallback when no serving file exists or ONNX Runtime is missing.

TensorFlow is imported only by the Keras fallback, so serving processes that run ONNX never
load it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.classes import NUM_CLASSES
from inference.registry import ModelInfo, RegistryError

log = logging.getLogger(__name__)

FORMATS = ("onnx", "onnx-int8", "keras")
MAX_CHUNK = 512
"""Largest batch handed to the runtime at once; bounds activation memory for huge batches."""


class OnnxRunner:
    """An ONNX graph in ONNX Runtime on the CPU, ``threads`` intra-op threads (0 = all cores)."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if threads == 1:
            # One thread per worker process: spinning would only steal the core from siblings.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def logits(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out = self.session.run(None, {self.input: batch})[0]
        return np.asarray(out, dtype=np.float32)


class _KerasRunner:
    """A ``.keras`` model called through one ``tf.function`` (TensorFlow is imported here)."""

    def __init__(self, path: Path) -> None:
        import keras
        import tensorflow as tf

        model = keras.models.load_model(path, compile=False)

        @tf.function(reduce_retracing=True)
        def forward(x: Any) -> Any:
            return model(x, training=False)

        self.forward = forward

    def logits(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.asarray(self.forward(batch), dtype=np.float32)


class ServingModel:
    """One loaded model version, ready to turn network inputs into logits.

    Load once per process (loading parses the graph and warms it up); calls are thread-safe
    for ONNX Runtime and cheap for any batch size, including one face.
    """

    def __init__(
        self, info: ModelInfo, backend: str, run: Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]
    ):
        self.info = info
        self.version = info.version
        self.backend = backend
        self._run = run

    @classmethod
    def load(cls, info: ModelInfo, threads: int = 1) -> ServingModel:
        """Load ``info``'s serving file (``threads`` intra-op threads; 0 = all cores) and warm it up."""
        fmt = str(info.serving.get("format", "keras"))
        if fmt not in FORMATS:
            raise RegistryError(f"{info.version}: unknown serving format {fmt!r}; expected one of {FORMATS}")
        model: ServingModel
        if fmt.startswith("onnx"):
            path = info.serving_path
            if not path.is_file():
                raise RegistryError(f"{info.version}: serving file {path} is missing")
            try:
                runner: OnnxRunner | _KerasRunner = OnnxRunner(path, threads)
            except ImportError:
                log.warning("onnxruntime is not installed; serving %s with Keras", info.version)
                runner, fmt = _KerasRunner(info.keras_path), "keras"
        else:
            runner = _KerasRunner(info.keras_path)
        model = cls(info, fmt, runner.logits)
        model.warm_up()
        return model

    def warm_up(self) -> None:
        """Run the batch sizes serving uses so the first request pays no allocation cost."""
        size = self.info.preprocess.crop_size
        for n in (1, 8):
            self.logits(np.zeros((n, size, size, 1), np.float32))

    def logits(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Raw logits (N, 7) for network inputs (N, crop, crop, 1) float32 in [0, 1]."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.ndim != 4:
            raise ValueError(f"expected a batch (N, H, W, 1), got shape {batch.shape}")
        if not len(batch):
            return np.zeros((0, NUM_CLASSES), np.float32)
        if len(batch) <= MAX_CHUNK:
            return self._run(batch)
        return np.concatenate([self._run(batch[i : i + MAX_CHUNK]) for i in range(0, len(batch), MAX_CHUNK)])

    def probabilities(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Calibrated probabilities (N, 7) through the version's one calibration."""
        return self.info.probabilities(self.logits(batch))
