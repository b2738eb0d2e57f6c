"""The fast serving format of a trained emotion model, and the runner that executes it.

``convert`` turns ``model.keras`` into an ONNX graph next to it (tf2onnx, batch axis left
dynamic) and returns the ``serving`` metadata stored in ``metadata.json``. ``ServingModel``
runs whichever format the metadata names:

- ``onnx``: ONNX Runtime, float32. The default: on this AVX2-only CPU it served the 1.44M
  parameter CNN several times faster than Keras and matches it to ~1e-5 in logits.
- ``onnx-int8``: the same graph with static post-training int8 quantization (QDQ, per-channel
  weights, calibrated on FER2013 training faces). Opt-in: it must be measured against the
  float model on PublicTest before activation (see ``inference/README`` for the numbers).
- ``keras``: the Keras model itself, called directly (never ``Model.predict``, which costs
  ~50 ms per call). The fallback when no serving file exists or ONNX Runtime is missing.

TensorFlow is imported only inside :func:`convert` and the Keras fallback, so serving
processes that run ONNX never load it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ml.classes import NUM_CLASSES
from ml.preprocessing import CROP_SIZE
from ml.registry import ModelInfo, RegistryError

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
ONNX_OPSET = 17
INPUT_NAME = "face"
FORMATS = ("onnx", "onnx-int8", "keras")
MAX_CHUNK = 512
"""Largest batch handed to the runtime at once; bounds activation memory for huge batches."""
CALIBRATION_FACES = 512


def convert(
    keras_path: Path,
    out_dir: Path,
    *,
    quantize: bool = False,
    calibration: npt.NDArray[np.uint8] | None = None,
) -> dict[str, Any]:
    """Write the serving file of ``keras_path`` into ``out_dir`` and return its metadata.

    1. Trace the Keras model in inference mode with a dynamic batch axis and export it to
       ONNX (opset 17) with tf2onnx; batch norm folds into the convolutions.
    2. Check the ONNX graph against Keras on a fixed random batch (max logit difference).
    3. With ``quantize``, also write an int8 QDQ graph calibrated on ``calibration`` (48x48
       uint8 faces; default: FER2013 training faces) and return that as the serving format.
    """
    import keras
    import tensorflow as tf
    import tf2onnx

    out_dir.mkdir(parents=True, exist_ok=True)
    model = keras.models.load_model(keras_path, compile=False)
    size = int(model.input_shape[1] or CROP_SIZE)
    spec = (tf.TensorSpec((None, size, size, 1), tf.float32, name=INPUT_NAME),)

    @tf.function(input_signature=spec)
    def forward(x: Any) -> Any:
        return model(x, training=False)

    onnx_path = out_dir / ONNX_FILE
    proto, _ = tf2onnx.convert.from_function(
        forward, input_signature=spec, opset=ONNX_OPSET, output_path=str(onnx_path)
    )
    output_name = proto.graph.output[0].name

    probe = np.random.default_rng(0).random((8, size, size, 1), dtype=np.float32)
    reference = np.asarray(model(probe, training=False), dtype=np.float32)
    got = _OnnxRunner(onnx_path, threads=1).logits(probe)
    max_diff = float(np.abs(got - reference).max())
    if max_diff > 1e-3:
        raise RegistryError(f"{onnx_path}: ONNX logits differ from Keras by {max_diff:.2e}")
    meta: dict[str, Any] = {
        "format": "onnx",
        "file": ONNX_FILE,
        "input": INPUT_NAME,
        "input_shape": [None, size, size, 1],
        "output": output_name,
        "opset": ONNX_OPSET,
        "converter": f"tf2onnx {tf2onnx.__version__}",
        "max_abs_logit_diff_vs_keras": max_diff,
    }
    if quantize:
        faces = calibration if calibration is not None else _default_calibration_faces()
        quantize_onnx(onnx_path, out_dir / ONNX_INT8_FILE, faces)
        meta = {**meta, "format": "onnx-int8", "file": ONNX_INT8_FILE, "float_file": ONNX_FILE}
    return meta


def quantize_onnx(float_path: Path, int8_path: Path, faces48: npt.NDArray[np.uint8]) -> None:
    """Static int8 quantization (QDQ, per-channel weights) calibrated on 48x48 faces."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from ml.preprocessing import to_model_input

    inputs = to_model_input(faces48)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{INPUT_NAME: inputs[i : i + 64]} for i in range(0, len(inputs), 64)])

        def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
            return next(self.batches, None)

    prepared = int8_path.with_suffix(".prep.onnx")
    quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
    try:
        quantize_static(
            str(prepared),
            str(int8_path),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            # AVX2 without VNNI multiplies u8 x s8 with 16-bit saturating adds (vpmaddubsw);
            # 7-bit weights keep those sums exact.
            extra_options={"WeightSymmetric": True},
            reduce_range=True,
        )
    finally:
        prepared.unlink(missing_ok=True)


def _default_calibration_faces() -> npt.NDArray[np.uint8]:
    from ml.cli import DEFAULT_DATA
    from ml.datasets import load

    return load(DEFAULT_DATA / "fer2013-train.npz").subset(CALIBRATION_FACES, seed=0).images


class _OnnxRunner:
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
                runner: _OnnxRunner | _KerasRunner = _OnnxRunner(path, threads)
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
