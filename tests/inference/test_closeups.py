"""Close-ups: a face that fills the frame, partly covered by a hand, is still found and classified.

The crops are cut from real photographs (the astronaut and Grace Hopper) around the face the
detector finds in the whole photo; a skin-toned oval over the mouth and chin stands in for a hand.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from inference import Options, analyse_image
from inference.api import Engine
from inference.classify import Classifier
from inference.detect import BlazeFace, Detection, detect_zoomed_out

Box = tuple[int, int, int, int]


def face_box(photo: npt.NDArray[np.uint8]) -> Box:
    (found,) = BlazeFace().detect(photo)
    return found.box


def close_up(photo: npt.NDArray[np.uint8], side: float) -> tuple[npt.NDArray[np.uint8], Box]:
    """A square crop ``side`` times the face box, centred on the face, and the face box in it."""
    x, y, w, h = face_box(photo)
    size = round(max(w, h) * side)
    left, top = max(0, round(x + w / 2 - size / 2)), max(0, round(y + h / 2 - size / 2))
    crop = np.ascontiguousarray(photo[top : top + size, left : left + size])
    return crop, (x - left, y - top, w, h)


def hand_over_mouth(image: npt.NDArray[np.uint8], box: Box) -> npt.NDArray[np.uint8]:
    x, y, w, h = box
    covered = image.copy()
    centre = (round(x + w / 2), round(y + h * 0.78))
    cv2.ellipse(covered, centre, (round(w * 0.45), round(h * 0.22)), 0, 0, 360, (120, 150, 200), -1)
    return covered


def centre_inside(found: Box, truth: Box) -> bool:
    cx, cy = found[0] + found[2] / 2, found[1] + found[3] / 2
    return truth[0] <= cx <= truth[0] + truth[2] and truth[1] <= cy <= truth[1] + truth[3]


def inside_frame(box: Box, image: npt.NDArray[np.uint8]) -> bool:
    x, y, w, h = box
    return x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= image.shape[1] and y + h <= image.shape[0]


@pytest.mark.parametrize(("photo", "side"), [("astronaut", 0.9), ("hopper", 0.9), ("hopper", 1.0)])
def test_a_covered_close_up_missed_by_the_full_range_is_found_on_a_zoomed_out_frame(
    model_root: Path, request: pytest.FixtureRequest, photo: str, side: float
) -> None:
    crop, truth = close_up(request.getfixturevalue(photo), side)
    covered = hand_over_mouth(crop, truth)
    # What the detector did before: nothing, so the frame counted as "no face".
    assert analyse_image(covered, Options(zoom_out=False)).faces == []
    # With a 15% border the same picture is found: the face was only too close.
    border = round(0.15 * covered.shape[0])
    assert len(analyse_image(cv2.copyMakeBorder(covered, *(border,) * 4, cv2.BORDER_CONSTANT), Options()).faces) == 1

    result = analyse_image(covered)
    assert len(result.faces) == 1
    face = result.faces[0]
    assert centre_inside(face.box, truth), (face.box, truth)
    assert inside_frame(face.box, covered), face.box
    assert face.box[2] > 0.6 * covered.shape[1]  # a close-up: the box spans most of the frame
    assert len(face.probabilities) == 7 and abs(sum(face.probabilities) - 1) < 1e-4
    assert face.model_version == "tiny-1"


@pytest.mark.parametrize("detector", ["full", "short", "auto"])
def test_every_detector_setting_finds_the_covered_close_ups(
    model_root: Path, astronaut: npt.NDArray[np.uint8], hopper: npt.NDArray[np.uint8], detector: str
) -> None:
    for photo in (astronaut, hopper):
        for side in (0.9, 1.0, 1.1, 1.2, 1.3):
            crop, truth = close_up(photo, side)
            for image in (crop, hand_over_mouth(crop, truth)):
                faces = analyse_image(image, Options(detector=detector)).faces  # type: ignore[arg-type]
                assert any(centre_inside(f.box, truth) for f in faces), (side, detector)


def test_boxes_found_zoomed_out_map_back_to_the_frame(astronaut: npt.NDArray[np.uint8]) -> None:
    detector = BlazeFace(model="short")
    x, y, w, h = face_box(astronaut)
    # A square frame and a wide one with the face off centre: each axis maps back on its own scale.
    for left, top, width, height in ((x - 35, y - 35, w + 70, h + 70), (x - 150, y - 30, w + 190, h + 50)):
        frame = np.ascontiguousarray(astronaut[top : top + height, left : left + width])
        (direct,) = detector.detect(frame)
        (zoomed,) = detect_zoomed_out(detector, frame)
        assert iou(direct.box, zoomed.box) > 0.75, (direct.box, zoomed.box)
        assert centre_inside(zoomed.box, (x - left, y - top, w, h))


def test_a_box_reaching_past_the_frame_is_clipped_to_it(astronaut: npt.NDArray[np.uint8]) -> None:
    crop, truth = close_up(astronaut, 0.8)  # the face is cut on every side
    found = detect_zoomed_out(BlazeFace(model="short"), hand_over_mouth(crop, truth))
    assert len(found) == 1
    assert inside_frame(found[0].box, crop)
    assert found[0].box[0] == 0 or found[0].box[1] == 0 or found[0].box[0] + found[0].box[2] == crop.shape[1]


def test_frames_without_a_face_stay_empty_after_the_second_look(model_root: Path) -> None:
    from skimage import data

    for picture in (data.coffee(), data.chelsea(), data.rocket(), data.brick(), data.moon()):
        code = cv2.COLOR_RGB2BGR if picture.ndim == 3 else cv2.COLOR_GRAY2BGR
        assert analyse_image(np.ascontiguousarray(cv2.cvtColor(picture, code))).faces == []


def test_the_second_look_runs_only_when_nothing_was_found(
    model_root: Path, astronaut: npt.NDArray[np.uint8], monkeypatch: pytest.MonkeyPatch
) -> None:
    import inference.api

    calls: list[int] = []

    def counting(detector: BlazeFace, bgr: npt.NDArray[np.uint8], border: float = 0.25) -> list[Detection]:
        calls.append(1)
        return detect_zoomed_out(detector, bgr, border)

    monkeypatch.setattr(inference.api, "detect_zoomed_out", counting)
    engine = Engine(Classifier(threads=1))
    engine.analyse_frames([engine.frame(astronaut, Options())], Options())
    assert calls == []
    engine.analyse_frames([engine.frame(np.zeros((240, 320, 3), np.uint8), Options())], Options())
    assert calls == [1]
    engine.analyse_frames([engine.frame(np.zeros((240, 320, 3), np.uint8), Options())], Options(zoom_out=False))
    assert calls == [1]


def test_a_trained_model_classifies_the_covered_close_up(
    trained_model_root: Path, astronaut: npt.NDArray[np.uint8]
) -> None:
    crop, truth = close_up(astronaut, 1.0)
    engine = Engine(Classifier(root=trained_model_root, threads=1))
    options = Options(tta="flip")
    (result,) = engine.analyse_frames([engine.frame(hand_over_mouth(crop, truth), options)], options)
    assert len(result.faces) == 1
    assert abs(sum(result.faces[0].probabilities) - 1) < 1e-4
    assert result.model_version == trained_model_root.joinpath("ACTIVE").read_text().strip()


def iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)
