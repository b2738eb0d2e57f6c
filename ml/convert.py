"""Convert a trained Keras model into the fast serving format that :mod:`inference.serving` runs.

``convert`` turns ``model.keras`` into an ONNX graph next to it (tf2onnx, batch axis left
dynamic), optionally with a statically quantized int8 twin, and returns the ``serving``
metadata stored in ``metadata.json``. TensorFlow, tf2onnx and ONNX Runtime's quantization
tools are imported inside the functions that use them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.preprocessing import CROP_SIZE, to_model_input
from inference.registry import RegistryError
from inference.serving import OnnxRunner
from ml.datasets import DEFAULT_DATA, load

ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
ONNX_OPSET = 17
INPUT_NAME = "face"
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
    got = OnnxRunner(onnx_path, threads=1).logits(probe)
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
    return load(DEFAULT_DATA / "fer2013-train.npz").subset(CALIBRATION_FACES, seed=0).images
