"""The public API on real photographs: boxes, probabilities, options, quality flags, reloads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

import inference
from inference import Options, analyse_frames, analyse_image
from inference.classes import EMOTIONS
from inference.classify import Classifier
from ml.registry import activate, restore_previous

REPO = Path(__file__).resolve().parents[2]


def centre(box: tuple[int, int, int, int]) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def test_it_finds_the_astronauts_face_where_it_is(model_root: Path, astronaut_jpeg: bytes) -> None:
    result = analyse_image(astronaut_jpeg)
    assert (result.width, result.height) == (512, 512)
    assert len(result.faces) == 1
    face = result.faces[0]
    # Her face spans roughly x 180-270, y 80-180 in the 512x512 photo.
    cx, cy = centre(face.box)
    assert 205 < cx < 250 and 105 < cy < 155
    assert 70 < face.box[2] < 130 and face.score > 0.7
    assert len(face.probabilities) == 7 and abs(sum(face.probabilities) - 1) < 1e-4
    assert face.dominant == max(face.emotions, key=lambda k: face.emotions[k])
    assert list(face.emotions) == list(EMOTIONS)
    assert face.model_version == result.model_version == "tiny-1"
    assert face.quality.ok, face.quality.flags()


def test_bytes_and_arrays_give_the_same_answer(
    model_root: Path, astronaut: npt.NDArray[np.uint8], astronaut_png: bytes
) -> None:
    from_png = analyse_image(astronaut_png).faces[0]
    from_array = analyse_image(astronaut).faces[0]
    assert from_png.box == from_array.box
    np.testing.assert_allclose(from_png.probabilities, from_array.probabilities, atol=1e-5)


def two_people(astronaut: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    small = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    return np.hstack([astronaut, np.pad(small, ((128, 128), (0, 0), (0, 0)), mode="edge")])


def test_it_returns_all_faces_or_only_the_primary_subject(model_root: Path, astronaut: npt.NDArray[np.uint8]) -> None:
    frame = two_people(astronaut)
    everyone = analyse_image(frame).faces
    assert len(everyone) == 2
    primary = analyse_image(frame, Options(faces="primary")).faces
    assert len(primary) == 1 and primary[0].box == max(everyone, key=lambda f: f.box[2] * f.box[3]).box
    assert centre(primary[0].box)[0] < 512  # the large face is on the left
    only_large = analyse_image(frame, Options(min_face_size=80)).faces
    assert len(only_large) == 1


def test_the_short_range_detector_finds_a_close_face_but_not_a_small_one(
    model_root: Path, astronaut: npt.NDArray[np.uint8]
) -> None:
    full = analyse_image(astronaut).faces
    short = analyse_image(astronaut, Options(detector="short")).faces
    assert len(short) == 1 and short[0].score > 0.7
    # Same face; the short-range box is somewhat tighter than the full-range one.
    assert abs(centre(short[0].box)[0] - centre(full[0].box)[0]) < 15
    assert 0.75 * full[0].box[2] < short[0].box[2] <= 1.05 * full[0].box[2]
    # The 128 px face of the two-person frame is under a tenth of its 768 px width.
    assert len(analyse_image(two_people(astronaut)).faces) == 2
    assert len(analyse_image(two_people(astronaut), Options(detector="short")).faces) == 1
    assert inference.Engine().detector_for("short").input_size == 128


def test_the_auto_detector_uses_the_short_range_and_falls_back_to_the_full_range_for_a_distant_face(
    model_root: Path, astronaut: npt.NDArray[np.uint8]
) -> None:
    close = analyse_image(astronaut, Options(detector="auto")).faces
    assert [f.box for f in close] == [f.box for f in analyse_image(astronaut, Options(detector="short")).faces]
    # Only the small person of the two-person frame (a face under a tenth of the frame's width):
    # the short range misses it, auto still finds it.
    distant = two_people(astronaut)
    distant[:, :512] = 90
    assert analyse_image(distant, Options(detector="short")).faces == []
    found = analyse_image(distant, Options(detector="auto")).faces
    assert [f.box for f in found] == [f.box for f in analyse_image(distant).faces]
    assert len(found) == 1


def test_a_frame_without_faces_gives_an_empty_list(model_root: Path) -> None:
    from skimage import data

    result = analyse_image(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))
    assert result.faces == [] and result.model_version == "tiny-1"


def test_it_flags_small_dark_blurred_and_clipped_faces(model_root: Path, astronaut: npt.NDArray[np.uint8]) -> None:
    def flags(image: npt.NDArray[np.uint8]) -> list[str]:
        faces = analyse_image(image, Options(min_face_size=8)).faces
        assert len(faces) == 1
        return faces[0].quality.flags()

    small = cv2.resize(astronaut, (192, 192), interpolation=cv2.INTER_AREA)
    assert "too_small" in flags(np.pad(small, ((160, 160), (160, 160), (0, 0)), mode="edge"))
    assert "too_dark" in flags((astronaut * 0.15).astype(np.uint8))
    assert "blurred" in flags(np.asarray(cv2.GaussianBlur(astronaut, (0, 0), 4), dtype=np.uint8))
    assert "partly_outside" in flags(astronaut[:, 215:])


def test_it_analyses_a_batch_of_frames_in_one_call(
    model_root: Path, astronaut: npt.NDArray[np.uint8], astronaut_jpeg: bytes
) -> None:
    results = analyse_frames([astronaut_jpeg, np.zeros((240, 320, 3), np.uint8), astronaut])
    assert [len(r.faces) for r in results] == [1, 0, 1]
    single = analyse_image(astronaut).faces[0]
    np.testing.assert_allclose(results[2].faces[0].probabilities, single.probabilities, atol=1e-5)


@pytest.mark.parametrize("tta", ["none", "flip", "ten"])
def test_every_tta_mode_gives_probabilities(model_root: Path, astronaut: npt.NDArray[np.uint8], tta: str) -> None:
    face = analyse_image(astronaut, Options(tta=tta)).faces[0]
    assert abs(sum(face.probabilities) - 1) < 1e-4 and min(face.probabilities) >= 0


def test_options_reject_invalid_values() -> None:
    with pytest.raises(ValueError, match="tta"):
        Options(tta="twenty")
    with pytest.raises(ValueError, match="faces"):
        Options(faces="some")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Options(min_face_size=0)
    with pytest.raises(ValueError, match="detector"):
        Options(detector="medium")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model"):
        Options(model="fastest")  # type: ignore[arg-type]


def test_it_hot_reloads_when_another_version_is_activated(copy_registry: Path) -> None:
    classifier = Classifier(root=copy_registry, threads=1, poll_seconds=0.0)
    faces = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    before, version = classifier.probabilities(faces)
    assert version == "tiny-1"
    activate("tiny-2", copy_registry)
    after, version = classifier.probabilities(faces)
    assert version == "tiny-2"
    assert not np.allclose(before, after)  # different weights, different answers
    restore_previous(copy_registry)
    assert classifier.probabilities(faces)[1] == "tiny-1"


def test_it_keeps_serving_the_loaded_version_if_the_new_one_is_broken(copy_registry: Path) -> None:
    classifier = Classifier(root=copy_registry, threads=1, poll_seconds=0.0)
    assert classifier.model().version == "tiny-1"
    (copy_registry / "ACTIVE").write_text("no-such-version\n")
    assert classifier.model().version == "tiny-1"


def test_live_frames_follow_the_active_version_until_the_live_channel_names_another(
    copy_registry: Path, astronaut_jpeg: bytes
) -> None:
    from inference.api import Engine

    engine = Engine(Classifier(root=copy_registry, threads=1, poll_seconds=0.0))
    live, upload = Options(model="live"), Options()

    def version(options: Options) -> str:
        return engine.analyse_frames([engine.frame(astronaut_jpeg, options)], options)[0].model_version

    assert version(live) == version(upload) == "tiny-1"
    assert engine.live_classifier.model() is engine.classifier.model()  # one copy serves both channels

    activate("tiny-2", copy_registry, channel="live")
    assert (version(live), version(upload)) == ("tiny-2", "tiny-1")
    activate("tiny-2", copy_registry)  # the active channel moves too: shared again
    assert (version(live), version(upload)) == ("tiny-2", "tiny-2")
    restore_previous(copy_registry)
    assert (version(live), version(upload)) == ("tiny-2", "tiny-1")
    assert engine.live_classifier.model() is not engine.classifier.model()

    from ml.registry import follow_active

    follow_active(copy_registry)
    assert version(live) == "tiny-1"
    assert engine.live_classifier.model() is engine.classifier.model()
    assert (copy_registry / "HISTORY").read_text().splitlines()[-1].endswith("- cli live")


def test_without_a_model_it_raises_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(inference.ModelUnavailable, match="no usable emotion model"):
        Classifier(root=tmp_path).model()


def test_preload_loads_everything_without_importing_tensorflow(model_root: Path) -> None:
    code = "import sys, inference; v = inference.preload(); print(v, 'tensorflow' in sys.modules)"
    env = {**os.environ, "MOODSAAS_MODEL_DIR": str(model_root), "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split() == ["tiny-1", "False"]


def test_a_trained_model_sees_the_astronaut_smile(trained_model_root: Path, astronaut: npt.NDArray[np.uint8]) -> None:
    from inference.api import Engine

    engine = Engine(Classifier(root=trained_model_root, threads=1))
    result = engine.analyse_frames([engine.frame(astronaut, Options())], Options(tta="flip"))[0]
    face = result.faces[0]
    ranked = sorted(face.emotions, key=lambda k: face.emotions[k], reverse=True)
    assert ranked[0] == "happy" and face.emotions["happy"] > 0.5, face.emotions
