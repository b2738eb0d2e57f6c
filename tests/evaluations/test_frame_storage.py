"""Opt-in frame storage: nothing by default; the opted-in company's analysed images, kept for its
own review, scoped like their sessions, and gone (rows and files) with retention and deletion."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.exceptions import ActionForbidden
from accounts.models import Actor, AuditEvent, Company, Role, User
from evaluations import frames, privacy, recording, retention
from evaluations.analysis import FrameInput
from evaluations.models import Channel, EvaluationSession, FrameOutcome, SessionFrame, Status, StoredFrame
from evaluations.tasks import purge_expired
from inference.results import Face
from tests.evaluations.conftest import EVALUATION_MODELS, start
from tests.frontend.conftest import page_client

pytestmark = pytest.mark.django_db

Nothing = Callable[..., AbstractContextManager[None]]
FACE = Face(box=(10, 10, 80, 80), score=0.9, probabilities=(0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0))


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def opt_in(company: Company, days: int = 7) -> None:
    company.store_frames = True
    company.frame_retention_days = days
    company.save()


def analysed(session: EvaluationSession, *sequences: int) -> None:
    """Record frames as the worker does, before their images are handed to storage."""
    recording.record_observations(
        company_id=session.company_id,
        session_id=session.pk,
        frames=[
            FrameInput(sequence=s, captured_at=timezone.now(), faces=(FACE,), model_version="m") for s in sequences
        ],
        push_frames=False,
    )


def stored(session: EvaluationSession) -> list[StoredFrame]:
    return list(StoredFrame.objects.for_company_id(session.company_id).filter(session_id=session.pk))


def frame_url(frame: StoredFrame, session: EvaluationSession) -> str:
    return reverse("portal-session-frame", kwargs={"session_id": session.public_id, "frame_id": frame.public_id})


def api_frame_url(frame: StoredFrame, session: EvaluationSession) -> str:
    return f"/api/v1/sessions/{session.public_id}/frames/{frame.public_id}/"


@pytest.fixture
def kept(bob: User, company_a: Company, face_jpeg: bytes) -> tuple[EvaluationSession, StoredFrame]:
    """A live session of bob's in company A (opted in) with one stored frame."""
    opt_in(company_a)
    session = start(bob, company_a)
    analysed(session, 0)
    assert frames.store_analysed_frames(company_a.pk, session.pk, [(0, face_jpeg)]) == 1
    return session, stored(session)[0]


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks: Any) -> Callable[[], AbstractContextManager[Any]]:
    """File deletions run after commit: inside a test's transaction, run them at the end of the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


# --- Storing -------------------------------------------------------------------------------------


def test_by_default_nothing_is_stored(bob: User, company_a: Company, face_jpeg: bytes, media: Path) -> None:
    session = start(bob, company_a)
    analysed(session, 0)
    assert frames.store_analysed_frames(company_a.pk, session.pk, [(0, face_jpeg)]) == 0
    assert stored(session) == [] and files_under(media) == []


def test_an_opted_in_companys_live_frames_are_kept_as_analysed_under_server_side_ids(
    bob: User, charlie: User, company_a: Company, company_b: Company, face_jpeg: bytes, media: Path
) -> None:
    opt_in(company_a)
    session, other = start(bob, company_a), start(charlie, company_b)
    analysed(session, 3, 4)
    analysed(other, 3)

    assert frames.store_analysed_frames(company_a.pk, session.pk, [(3, face_jpeg), (4, face_jpeg)]) == 2
    assert frames.store_analysed_frames(company_b.pk, other.pk, [(3, face_jpeg)]) == 0  # B did not opt in

    rows = stored(session)
    assert [(f.sequence, f.content_type, f.size) for f in rows] == [
        (3, "image/jpeg", len(face_jpeg)),
        (4, "image/jpeg", len(face_jpeg)),
    ]
    folder = media / "stored-frames" / str(company_a.public_id) / str(session.public_id)
    assert files_under(media) == [folder / "000000000003.jpg", folder / "000000000004.jpg"]
    assert (folder / "000000000003.jpg").read_bytes() == face_jpeg
    ledger_time = SessionFrame.objects.for_company(company_a).get(session=session, sequence=3).captured_at
    assert rows[0].captured_at == ledger_time

    # A retried task hands the same frames in again: nothing new.
    assert frames.store_analysed_frames(company_a.pk, session.pk, [(3, face_jpeg)]) == 0
    assert len(stored(session)) == 2


def test_a_video_frame_is_kept_as_a_jpeg_of_the_sampled_image(
    bob: User, company_a: Company, face_video: Path, media: Path
) -> None:
    from inference.video import sampled_frames

    opt_in(company_a)
    session = start(bob, company_a, channel=Channel.VIDEO)
    sampled = [image for _second, image in sampled_frames(face_video, 1.0)][:2]
    analysed(session, 0, 1)

    assert frames.store_analysed_frames(company_a.pk, session.pk, list(enumerate(sampled))) == 2

    first = stored(session)[0]
    assert first.content_type == "image/jpeg" and first.file.name.endswith(".jpg")
    decoded = cv2.imdecode(np.frombuffer(first.path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape == sampled[0].shape


def test_uploaded_images_of_an_opted_in_company_are_kept_with_their_own_type(
    bob_client: APIClient,
    bob: User,
    company_a: Company,
    emotion_model: Path,
    face_jpeg: bytes,
    face_png: bytes,
    django_capture_on_commit_callbacks: Any,
) -> None:
    opt_in(company_a)
    session = start(bob, company_a, channel=Channel.IMAGES)
    with django_capture_on_commit_callbacks(execute=True):
        response = bob_client.post(
            f"/api/v1/sessions/{session.public_id}/images/",
            {
                "images": [
                    SimpleUploadedFile("a.jpg", face_jpeg, "image/jpeg"),
                    # The client's word for the type is ignored: the bytes say PNG.
                    SimpleUploadedFile("b.jpg", face_png, "image/jpeg"),
                ]
            },
            format="multipart",
        )
    assert response.status_code == 202, response.content
    assert [(f.sequence, f.content_type) for f in stored(session)] == [(0, "image/jpeg"), (1, "image/png")]
    assert stored(session)[1].path.read_bytes() == face_png
    session.refresh_from_db()
    assert session.frames_processed == 2  # the analysis went on as ever


def test_uploaded_images_are_not_kept_by_default(
    bob_client: APIClient, bob: User, company_a: Company, emotion_model: Path, face_jpeg: bytes, media: Path
) -> None:
    session = start(bob, company_a, channel=Channel.IMAGES)
    response = bob_client.post(
        f"/api/v1/sessions/{session.public_id}/images/",
        {"images": [SimpleUploadedFile("a.jpg", face_jpeg, "image/jpeg")]},
        format="multipart",
    )
    assert response.status_code == 202
    assert stored(session) == [] and files_under(media) == []


def test_a_storage_failure_is_logged_and_costs_the_frame_nothing(
    bob: User, company_a: Company, face_jpeg: bytes, settings: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    opt_in(company_a)
    session = start(bob, company_a)
    analysed(session, 0)
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    settings.MEDIA_ROOT = str(blocker)  # every mkdir under it fails

    with caplog.at_level(logging.ERROR, logger="evaluations.frames"):
        assert frames.store_analysed_frames(company_a.pk, session.pk, [(0, face_jpeg)]) == 0

    assert "could not store 1 frame(s)" in caplog.text
    assert stored(session) == []
    session.refresh_from_db()
    assert session.frames_processed == 1  # the frame's outcome stands


def test_what_is_not_an_image_or_belongs_to_no_session_is_not_kept(
    bob: User, company_a: Company, company_b: Company, face_jpeg: bytes, media: Path
) -> None:
    opt_in(company_a)
    session = start(bob, company_a)
    assert frames.store_analysed_frames(company_a.pk, session.pk, [(0, b"<svg onload=alert(1)>")]) == 0
    assert frames.store_analysed_frames(company_a.pk, 999_999, [(0, face_jpeg)]) == 0
    # Another company's id never reaches company A's session.
    assert frames.store_analysed_frames(company_b.pk, session.pk, [(0, face_jpeg)]) == 0
    assert stored(session) == [] and files_under(media) == []


def test_a_frame_the_ledger_says_was_dropped_unanalysed_is_not_kept(
    bob: User, company_a: Company, face_jpeg: bytes, media: Path
) -> None:
    opt_in(company_a)
    session = start(bob, company_a)
    SessionFrame.objects.create(
        company=company_a,
        session=session,
        sequence=5,
        captured_at=timezone.now(),
        offset_seconds=1.0,
        outcome=FrameOutcome.DROPPED,
    )
    assert frames.store_analysed_frames(company_a.pk, session.pk, [(5, face_jpeg)]) == 0
    assert stored(session) == [] and files_under(media) == []


# --- Reviewing -----------------------------------------------------------------------------------


def test_the_session_page_shows_the_stored_frames_and_serves_each_image(
    alice: User, kept: tuple[EvaluationSession, StoredFrame], face_jpeg: bytes
) -> None:
    session, frame = kept
    client = page_client(alice)
    body = client.get(reverse("portal-session", kwargs={"session_id": session.public_id})).content.decode()
    assert "Stored frames" in body and frame_url(frame, session) in body
    assert "deleted 7 days after it was captured" in body

    image = client.get(frame_url(frame, session))
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    assert image["Cache-Control"] == "private, no-store" and image["X-Content-Type-Options"] == "nosniff"
    assert b"".join(image.streaming_content) == face_jpeg  # type: ignore[attr-defined]


def test_an_agent_sees_the_frames_of_their_own_sessions_only(
    bob: User, alice: User, company_a: Company, kept: tuple[EvaluationSession, StoredFrame], face_jpeg: bytes
) -> None:
    session, frame = kept
    assert page_client(bob).get(frame_url(frame, session)).status_code == 200
    alices = start(alice, company_a, role=Role.ADMIN)
    analysed(alices, 0)
    frames.store_analysed_frames(company_a.pk, alices.pk, [(0, face_jpeg)])
    assert page_client(bob).get(frame_url(stored(alices)[0], alices)).status_code == 404


def test_charlie_gets_a_404_for_company_as_frames_everywhere_and_nothing_is_written(
    charlie: User,
    charlie_client: APIClient,
    token_b_client: APIClient,
    kept: tuple[EvaluationSession, StoredFrame],
    nothing_written: Nothing,
) -> None:
    session, frame = kept
    page = page_client(charlie)
    own = start(charlie, Company.objects.get(slug="bravo-care"))
    with nothing_written(*EVALUATION_MODELS):
        assert page.get(reverse("portal-session", kwargs={"session_id": session.public_id})).status_code == 404
        assert page.get(frame_url(frame, session)).status_code == 404
        for client in (charlie_client, token_b_client):
            assert client.get(f"/api/v1/sessions/{session.public_id}/frames/").status_code == 404
            assert client.get(api_frame_url(frame, session)).status_code == 404
        # The frame's id under one of charlie's own sessions is no way in either.
        assert page.get(frame_url(frame, own)).status_code == 404
        assert charlie_client.get(api_frame_url(frame, own)).status_code == 404


def test_the_api_lists_a_sessions_stored_frames_and_fetches_one(
    bob_client: APIClient, read_token_a_client: APIClient, kept: tuple[EvaluationSession, StoredFrame], face_jpeg: bytes
) -> None:
    session, frame = kept
    for client in (bob_client, read_token_a_client):
        listing = client.get(f"/api/v1/sessions/{session.public_id}/frames/")
        assert listing.status_code == 200
        (item,) = listing.json()["results"]
        assert item["id"] == str(frame.public_id) and item["sequence"] == 0
        assert item["content_type"] == "image/jpeg" and item["size"] == len(face_jpeg)
        assert item["url"] == api_frame_url(frame, session)
        image = client.get(item["url"])
        assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
        assert b"".join(image.streaming_content) == face_jpeg  # type: ignore[attr-defined]
    missing = f"/api/v1/sessions/{session.public_id}/frames/00000000-0000-0000-0000-000000000000/"
    assert bob_client.get(missing).status_code == 404


def test_the_session_page_takes_as_many_queries_with_many_stored_frames(
    alice: User, company_a: Company, kept: tuple[EvaluationSession, StoredFrame], face_jpeg: bytes
) -> None:
    session, _frame = kept
    client = page_client(alice)
    url = reverse("portal-session", kwargs={"session_id": session.public_id})
    client.get(url)  # warm per-process caches
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    analysed(session, *range(1, 30))
    frames.store_analysed_frames(company_a.pk, session.pk, [(s, face_jpeg) for s in range(1, 30)])
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert len(response.context["stored"]) == 24 and "Page 1 of 2 (30 frames)" in response.content.decode()
    assert len(many) == len(few) <= 16


# --- Deleting ------------------------------------------------------------------------------------


def age(session: EvaluationSession, days: int) -> None:
    StoredFrame.objects.for_company_id(session.company_id).filter(session_id=session.pk).update(
        captured_at=timezone.now() - timedelta(days=days)
    )


def test_the_purge_deletes_frames_past_the_companys_frame_retention_rows_and_files(
    bob: User,
    charlie: User,
    company_a: Company,
    company_b: Company,
    face_jpeg: bytes,
    media: Path,
    run_on_commit: Callable[[], AbstractContextManager[Any]],
) -> None:
    opt_in(company_a, days=7)
    opt_in(company_b, days=30)
    old, recent, other = start(bob, company_a), start(bob, company_a), start(charlie, company_b)
    for session in (old, recent, other):
        analysed(session, 0)
        frames.store_analysed_frames(session.company_id, session.pk, [(0, face_jpeg)])
    age(old, 8)
    age(other, 8)  # as old, but company B keeps them 30 days
    # Switching storage off stores nothing new and keeps what is stored until its time is up.
    company_a.store_frames = False
    company_a.save()
    old_file, recent_file = stored(old)[0].path, stored(recent)[0].path

    with run_on_commit():
        purge_expired()  # the scheduled task

    assert stored(old) == [] and not old_file.exists() and not old_file.parent.exists()
    assert len(stored(recent)) == 1 and recent_file.exists()
    assert len(stored(other)) == 1
    event = AuditEvent.objects.for_company(company_a).get(action="frames.purged")
    assert event.actor_label == "system" and event.metadata["frames"] == 1
    assert event.metadata["frame_retention_days"] == 7
    assert not AuditEvent.objects.for_company(company_b).filter(action="frames.purged").exists()
    # The sessions themselves follow retention_days (90), untouched.
    assert EvaluationSession.objects.for_company(company_a).filter(pk=old.pk).exists()
    assert retention.purge_expired_frames() == {}


def test_purging_a_session_takes_its_stored_frames_and_files(
    kept: tuple[EvaluationSession, StoredFrame],
    company_a: Company,
    media: Path,
    run_on_commit: Callable[[], AbstractContextManager[Any]],
) -> None:
    session, _frame = kept
    company_a.frame_retention_days = 365
    company_a.retention_days = 30
    company_a.save()
    then = timezone.now() - timedelta(days=40)
    EvaluationSession.objects.for_company(company_a).filter(pk=session.pk).update(
        started_at=then, ended_at=then, status=Status.FINISHED
    )
    with run_on_commit():
        assert retention.purge_expired_sessions() == {company_a.slug: 1}
    assert not StoredFrame.objects.for_company(company_a).exists()
    assert files_under(media) == []


def test_deleting_or_erasing_a_session_takes_its_stored_frames_and_files(
    alice_client: APIClient,
    bob: User,
    company_a: Company,
    face_jpeg: bytes,
    media: Path,
    run_on_commit: Callable[[], AbstractContextManager[Any]],
) -> None:
    opt_in(company_a)
    deleted = start(bob, company_a)
    erased = actions_start(bob, company_a, "CRM-7")
    keep = start(bob, company_a)
    for session in (deleted, erased, keep):
        analysed(session, 0, 1)
        frames.store_analysed_frames(company_a.pk, session.pk, [(0, face_jpeg), (1, face_jpeg)])
        EvaluationSession.objects.for_company(company_a).filter(pk=session.pk).update(status=Status.FINISHED)

    with run_on_commit():
        assert alice_client.delete(f"/api/v1/sessions/{deleted.public_id}/").status_code == 204
        erase = alice_client.post("/api/v1/customers/erase/", {"customer_reference": "crm-7"})
        assert erase.status_code == 200, erase.content

    folder = media / "stored-frames" / str(company_a.public_id)
    assert [p.parent for p in files_under(media)] == [folder / str(keep.public_id)] * 2
    assert {f.session_id for f in StoredFrame.objects.for_company(company_a)} == {keep.pk}


def actions_start(user: User, company: Company, reference: str) -> EvaluationSession:
    from evaluations import actions

    return actions.start_session(
        actor=Actor(user=user, role=Role.AGENT),
        company=company,
        agent=user,
        customer_reference=reference,
        notice_shown=True,
    )


def test_the_owner_deletes_every_stored_frame_now_and_it_is_audited(
    owner: User,
    kept: tuple[EvaluationSession, StoredFrame],
    company_a: Company,
    media: Path,
    run_on_commit: Callable[[], AbstractContextManager[Any]],
) -> None:
    client = page_client(owner)
    body = client.get(reverse("portal-settings")).content.decode()
    assert "1 image is stored now." in body and "Delete the stored images now" in body

    refused = client.post(reverse("portal-settings-delete-frames"), follow=True)
    assert "Tick the box to confirm the deletion." in refused.content.decode()
    assert len(StoredFrame.objects.for_company(company_a)) == 1

    with run_on_commit():
        response = client.post(reverse("portal-settings-delete-frames"), {"confirm": "on"}, follow=True)
    assert "1 stored image is deleted." in response.content.decode()
    assert not StoredFrame.objects.for_company(company_a).exists() and files_under(media) == []
    event = AuditEvent.objects.for_company(company_a).get(action="frames.deleted")
    assert event.actor_label == "owner@a.test" and event.metadata == {"frames": 1}
    session, _frame = kept
    assert EvaluationSession.objects.for_company(company_a).filter(pk=session.pk).exists()


def test_only_an_owner_deletes_the_stored_frames(
    alice: User,
    charlie: User,
    token_a: Any,
    kept: tuple[EvaluationSession, StoredFrame],
    company_a: Company,
    nothing_written: Nothing,
) -> None:
    with nothing_written(*EVALUATION_MODELS):
        assert page_client(alice).post(reverse("portal-settings-delete-frames"), {"confirm": "on"}).status_code == 403
        # charlie's own company is the one his request acts for: company A's frames stay.
        page_client(charlie).post(reverse("portal-settings-delete-frames"), {"confirm": "on"})
        with pytest.raises(ActionForbidden):
            privacy.delete_stored_frames(actor=Actor(token=token_a.token, role=Role.OWNER), company=company_a)
    assert len(StoredFrame.objects.for_company(company_a)) == 1


def test_the_export_holds_the_stored_frames_and_their_images(
    owner_client: APIClient, kept: tuple[EvaluationSession, StoredFrame], face_jpeg: bytes
) -> None:
    session, _frame = kept
    response = owner_client.post("/api/v1/company/export/")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))  # type: ignore[attr-defined]
    image = f"stored-frames/{session.public_id}/000000000000.jpg"
    assert archive.read(image) == face_jpeg
    listing = archive.read("stored_frames.csv").decode()
    assert image in listing and str(session.public_id) in listing
