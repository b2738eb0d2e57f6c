"""Which model reads which frames: live camera frames take the registry's live channel, the rest the active version."""

from __future__ import annotations

import time
from pathlib import Path

from evaluations import analysis
from evaluations.analysis import Use
from ml.registry import activate, follow_active
from tests.model_registry import register_tiny


def test_live_frames_are_read_by_the_live_version_and_uploads_by_the_active_one(
    emotion_model: Path, face_jpeg: bytes
) -> None:
    register_tiny(emotion_model, "tiny-live", 4)
    activate("tiny-live", emotion_model, channel="live")
    try:
        time.sleep(1.1)  # the process-wide classifiers re-read their pointers at most once a second
        (live,) = analysis.analyse_encoded([face_jpeg], Use.LIVE)
        (upload,) = analysis.analyse_encoded([face_jpeg], Use.UPLOAD)
        assert not isinstance(live, str) and not isinstance(upload, str)
        assert [face.model_version for face in live.faces] == ["tiny-live"]
        assert [face.model_version for face in upload.faces] == ["tiny-eval"]
        assert analysis.analyse_image(face_jpeg, Use.VIDEO).model_version == "tiny-eval"
    finally:
        follow_active(emotion_model)
        time.sleep(1.1)
    (live,) = analysis.analyse_encoded([face_jpeg], Use.LIVE)
    assert not isinstance(live, str) and live.model_version == "tiny-eval"
