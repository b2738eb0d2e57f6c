"""Fixtures for evaluation tests: a real (tiny) emotion model, real face photos, sessions.

The emotion model is the inference tests' untrained tiny moodnet, exported through the real
serving path into a temporary registry: the whole pipeline runs for real, only the weights are
not trained (so tests assert on structure and bookkeeping, never on which emotion wins).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.conf import settings

from accounts.models import Actor, Company, Role, User
from evaluations import actions
from evaluations.models import Channel, EvaluationSession, Observation, RubricVersion, SessionFrame
from ml.registry import activate
from tests.model_registry import register_tiny

EVALUATION_MODELS = (EvaluationSession, Observation, SessionFrame, RubricVersion)


@pytest.fixture(scope="session")
def emotion_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A registry with one active tiny model, as $MOODSAAS_MODEL_DIR for this process and its workers."""
    root = tmp_path_factory.mktemp("evaluation-models")
    register_tiny(root, "tiny-eval", 3)
    activate("tiny-eval", root)
    previous = os.environ.get("MOODSAAS_MODEL_DIR")
    os.environ["MOODSAAS_MODEL_DIR"] = str(root)
    # The process-wide classifier re-reads the registry pointer at most once a second: if another
    # test module loaded its own model first, wait that second so every analysis here uses ours.
    time.sleep(1.1)
    yield root
    if previous is None:
        os.environ.pop("MOODSAAS_MODEL_DIR", None)
    else:
        os.environ["MOODSAAS_MODEL_DIR"] = previous


@pytest.fixture(scope="session")
def face_bgr() -> np.ndarray:
    """scikit-image's astronaut photograph (one clear, smiling face) as BGR."""
    from skimage import data

    return np.ascontiguousarray(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="session")
def face_jpeg(face_bgr: np.ndarray) -> bytes:
    return bytes(cv2.imencode(".jpg", face_bgr, [cv2.IMWRITE_JPEG_QUALITY, 85])[1])


@pytest.fixture(scope="session")
def face_png(face_bgr: np.ndarray) -> bytes:
    return bytes(cv2.imencode(".png", face_bgr)[1])


def write_video(path: Path, fourcc: str, face_bgr: np.ndarray) -> Path:
    """A 3-second 10 fps video of the astronaut drifting sideways."""
    small = cv2.resize(face_bgr, (256, 256))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), 10.0, (320, 256))
    for i in range(30):
        frame = np.zeros((256, 320, 3), np.uint8)
        frame[:, i : i + 256] = small
        writer.write(frame)
    writer.release()
    assert path.stat().st_size > 0
    return path


@pytest.fixture(scope="session")
def face_video(tmp_path_factory: pytest.TempPathFactory, face_bgr: np.ndarray) -> Path:
    """An MP4 (MPEG-4 part 2) interaction video."""
    return write_video(tmp_path_factory.mktemp("video") / "interaction.mp4", "mp4v", face_bgr)


@pytest.fixture(scope="session")
def face_webm(tmp_path_factory: pytest.TempPathFactory, face_bgr: np.ndarray) -> Path:
    """The same interaction as WebM (VP8)."""
    return write_video(tmp_path_factory.mktemp("video") / "interaction.webm", "VP80", face_bgr)


def start(user: User, company: Company, channel: str = Channel.LIVE, role: Role = Role.AGENT) -> EvaluationSession:
    """Start a session for ``user`` through the real action, acting as that user."""
    return actions.start_session(actor=Actor(user=user, role=role), company=company, agent=user, channel=channel)


@pytest.fixture
def bob_session(bob: User, company_a: Company) -> EvaluationSession:
    return start(bob, company_a)


@pytest.fixture
def needs_services() -> None:
    if not settings.REDIS_URL:
        pytest.skip("needs services mode: set DATABASE_URL and REDIS_URL (see README)")
