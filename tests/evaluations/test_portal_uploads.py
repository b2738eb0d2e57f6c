"""Image and video sessions started and fed from the portal (the same checks as the API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.models import Company, Role, User
from evaluations.models import Channel, EvaluationSession, Observation, SessionFrame, Status, VideoStatus
from tests.evaluations.conftest import start

pytestmark = pytest.mark.django_db


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(name: str, session: EvaluationSession) -> str:
    return reverse(name, kwargs={"session_id": session.public_id})


def test_an_agent_starts_a_photo_session_uploads_photos_and_finishes_it(
    bob: User, company_a: Company, emotion_model: Path, face_jpeg: bytes, django_capture_on_commit_callbacks: Any
) -> None:
    client = signed_in(bob)
    response = client.post(reverse("portal-session-new"), {"channel": "images", "customer_reference": "T-7"})
    session = EvaluationSession.objects.for_company(company_a).get(agent=bob)
    assert response.status_code == 302 and response["Location"] == url("portal-session", session)
    assert (session.channel, session.customer_reference) == (Channel.IMAGES, "T-7")
    page = client.get(url("portal-session", session))
    assert 'name="images"' in page.content.decode()
    photos = [SimpleUploadedFile(f"p{i}.jpg", face_jpeg, "image/jpeg") for i in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url("portal-session-upload", session), {"images": photos}).status_code == 302
    session.refresh_from_db()
    assert (session.frames_received, session.frames_processed) == (3, 3)  # tasks run eagerly in tests
    assert client.post(url("portal-session-finish", session)).status_code == 302
    session.refresh_from_db()
    assert session.status == Status.FINISHED


def test_a_bad_photo_refuses_the_whole_upload_with_a_clear_message(
    bob: User, company_a: Company, emotion_model: Path, face_jpeg: bytes
) -> None:
    session = start(bob, company_a, Channel.IMAGES)
    client = signed_in(bob)
    files = [SimpleUploadedFile("ok.jpg", face_jpeg, "image/jpeg"), SimpleUploadedFile("bad.jpg", b"not an image")]
    response = client.post(url("portal-session-upload", session), {"images": files}, follow=True)
    assert "bad.jpg" in response.content.decode()
    session.refresh_from_db()
    assert session.frames_received == 0 and not SessionFrame.objects.for_company(company_a).exists()


def test_a_video_uploaded_from_the_portal_is_analysed_and_finishes_the_session(
    bob: User, company_a: Company, emotion_model: Path, face_video: Path, django_capture_on_commit_callbacks: Any
) -> None:
    session = start(bob, company_a, Channel.VIDEO)
    video = SimpleUploadedFile("call.mp4", face_video.read_bytes(), "video/mp4")
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(bob).post(url("portal-session-upload", session), {"video": video})
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.video_status == VideoStatus.DONE and session.status == Status.FINISHED
    assert Observation.objects.for_company(company_a).filter(session=session).exists()


def test_charlie_cannot_upload_to_company_as_session_and_nothing_is_written(
    bob: User, charlie: User, company_a: Company, face_jpeg: bytes, nothing_written: Any
) -> None:
    session = start(bob, company_a, Channel.IMAGES)
    with nothing_written(EvaluationSession, SessionFrame, Observation):
        response = signed_in(charlie).post(
            url("portal-session-upload", session), {"images": [SimpleUploadedFile("p.jpg", face_jpeg, "image/jpeg")]}
        )
    assert response.status_code == 404


def test_an_agent_cannot_upload_to_a_colleagues_session(
    bob: User, alice: User, company_a: Company, face_jpeg: bytes
) -> None:
    session = start(alice, company_a, Channel.IMAGES, role=Role.ADMIN)
    response = signed_in(bob).post(
        url("portal-session-upload", session), {"images": [SimpleUploadedFile("p.jpg", face_jpeg, "image/jpeg")]}
    )
    assert response.status_code == 404
