"""The BlazeFace graph rewritten for ONNX Runtime finds the same faces in the same boxes.

``inference.detect._serving_graph`` rewrites the converted graph so that ONNX Runtime keeps it in
its blocked layout (see its docstring). These tests pin what must not change: the outputs, the
boxes on real photographs, and one session per input shape. They never assert timings.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import pytest

from inference.detect import BLAZEFACE_MODELS, BlazeFace, _serving_graph, onnx_weights

Box = tuple[int, int, int, int]


def converted_file(model: str) -> bytes:
    return onnx_weights(BLAZEFACE_MODELS[model][0]).read_bytes()


def two_people(astronaut: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    small = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    return np.hstack([astronaut, np.pad(small, ((128, 128), (0, 0), (0, 0)), mode="edge")])


@pytest.mark.parametrize("model", ["full", "short"])
def test_the_rewritten_graph_computes_what_the_converted_graph_does(
    astronaut: npt.NDArray[np.uint8], model: str
) -> None:
    side = BLAZEFACE_MODELS[model][1]
    # The converted file runs as shipped at the square input it was converted for (NHWC, RGB).
    rgb = cv2.cvtColor(cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    nhwc = (rgb.astype(np.float32) / 127.5 - 1.0)[None]
    converted = ort.InferenceSession(converted_file(model), providers=["CPUExecutionProvider"])
    expected = converted.run(None, {converted.get_inputs()[0].name: nhwc})

    detector = BlazeFace(model=model)
    session = detector.session(side, side)
    found = session.run(None, {detector.input_name: np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))})

    for want, got in zip(expected, found, strict=True):
        assert want.shape == got.shape
        assert np.abs(want - got).max() < 1e-3


@pytest.mark.parametrize("model", ["full", "short"])
def test_the_rewritten_graph_has_no_layer_outside_the_blocked_layout(model: str) -> None:
    rewritten = _serving_graph(converted_file(model))
    onnx.checker.check_model(rewritten)
    graph = rewritten.graph
    assert "Pad" not in {node.op_type for node in graph.node}
    assert all(node.op_type == "Conv" for node in graph.node if graph.input[0].name in node.input)
    # Every convolution makes a multiple of 16 channels, but the heads (scores, box offsets).
    weights = {initializer.name: initializer.dims for initializer in graph.initializer}
    consumers = {name: node.op_type for node in graph.node for name in node.input}
    convs = [node for node in graph.node if node.op_type == "Conv"]
    heads = [node for node in convs if consumers.get(node.output[0]) in {"Transpose", "Reshape"}]
    assert heads and all(weights[node.input[1]][0] % 16 == 0 for node in convs if node not in heads)
    # The input is NCHW with symbolic sides; every initializer is still read by some node.
    dims = graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value or d.dim_param for d in dims] == [1, 3, "height", "width"]
    used = {name for node in graph.node for name in node.input}
    assert all(initializer.name in used for initializer in graph.initializer)


# Boxes and scores the detector gave before the graph was rewritten (converted graph with
# symbolic input sides, NHWC input).
BEFORE = {
    ("full", "astronaut"): [((174, 70, 105, 105), 0.9398)],
    ("full", "hopper"): [((158, 118, 210, 210), 0.7830)],
    ("full", "two_people"): [((175, 71, 100, 100), 0.8803), ((599, 159, 47, 47), 0.5299)],
    ("full", "portrait"): [((59, 119, 211, 211), 0.8923)],
    ("short", "astronaut"): [((178, 81, 94, 94), 0.9226)],
    ("short", "hopper"): [((169, 146, 195, 195), 0.9421)],
    ("short", "two_people"): [((172, 64, 103, 103), 0.6524)],
    ("short", "portrait"): [((71, 148, 193, 193), 0.9308)],
}


@pytest.mark.parametrize("model", ["full", "short"])
def test_the_same_faces_are_found_in_the_same_boxes_as_before(
    astronaut: npt.NDArray[np.uint8], hopper: npt.NDArray[np.uint8], model: str
) -> None:
    detector = BlazeFace(model=model)
    photos = {
        "astronaut": astronaut,
        "hopper": hopper,
        "two_people": two_people(astronaut),
        "portrait": np.ascontiguousarray(hopper[:, 100:400]),
    }
    for name, photo in photos.items():
        found = detector.detect(photo)
        before = BEFORE[(model, name)]
        assert len(found) == len(before), name
        for detection, (box, score) in zip(found, before, strict=True):
            assert all(abs(a - b) <= 1 for a, b in zip(detection.box, box, strict=True)), (name, detection.box, box)
            assert abs(detection.score - score) < 1e-3, (name, detection.score, score)


def test_each_input_shape_gets_one_session_made_once(hopper: npt.NDArray[np.uint8]) -> None:
    detector = BlazeFace()
    landscape = detector.session(160, 192)  # made at start-up: a 4:3 landscape frame
    assert set(detector._sessions) == {(160, 192)}
    detector.detect(np.zeros((480, 640, 3), np.uint8))
    detector.detect(np.ascontiguousarray(hopper[:, 100:400]))  # portrait: 192 high, 96 wide
    assert set(detector._sessions) == {(160, 192), (192, 96)}
    assert detector.session(160, 192) is landscape
