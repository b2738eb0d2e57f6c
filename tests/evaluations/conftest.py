"""Fixtures for evaluation tests: a real (tiny) emotion model, real face photos, sessions.

The emotion model (``emotion_model``) and the face photos (``face_bgr``, ``face_jpeg``,
``face_png``) live in tests/conftest.py: the public demo page's tests use them too.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from accounts.models import Actor, Company, Role, User
from evaluations import actions
from evaluations.models import (
    Channel,
    ConsentReceipt,
    EvaluationSession,
    Observation,
    RubricVersion,
    SessionFrame,
    StoredFrame,
)

EVALUATION_MODELS = (EvaluationSession, Observation, SessionFrame, RubricVersion, StoredFrame, ConsentReceipt)


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
    """Start a session for ``user`` through the real action, acting as that user (a live one after the notice)."""
    return actions.start_session(
        actor=Actor(user=user, role=role),
        company=company,
        agent=user,
        channel=channel,
        notice_shown=channel == Channel.LIVE,
    )


@pytest.fixture
def bob_session(bob: User, company_a: Company) -> EvaluationSession:
    return start(bob, company_a)
