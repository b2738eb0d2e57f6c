"""The evaluations REST API: happy paths, roles, cross-company refusals, bad input, query counts."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Actor, AuditEvent, Company, Membership, Role, User
from evaluations import actions
from evaluations.models import Channel, EvaluationSession, Observation, SessionFrame, Status
from tests.evaluations.conftest import EVALUATION_MODELS, start

Written = Callable[..., AbstractContextManager[None]]
API = "/api/v1/sessions/"


def detail(session: EvaluationSession, suffix: str = "") -> str:
    return f"{API}{session.public_id}/{suffix}"


def member_id(user: User, company: Company) -> str:
    return str(Membership.objects.for_company(company).get(user=user).public_id)


def jpeg_upload(data: bytes, name: str = "face.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/jpeg")


@pytest.fixture
def many_sessions(owner: User, alice: User, bob: User, company_a: Company) -> list[EvaluationSession]:
    sessions = [start(bob, company_a) for _ in range(3)] + [start(alice, company_a, role=Role.ADMIN) for _ in range(2)]
    actions.finish_session(actor=Actor(user=bob, role=Role.AGENT), session=sessions[0])
    return sessions


class TestCreate:
    def test_an_agent_starts_a_session_for_themselves(self, bob_client: APIClient, bob: User) -> None:
        response = bob_client.post(API, {"channel": "live", "customer_reference": "ticket-42", "notice_shown": True})
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["status"] == "open"
        assert body["agent"]["email"] == "bob@a.test"
        assert body["customer_reference"] == "ticket-42"
        assert body["rubric_version"] == 1
        assert body["grade_detail"]["outcome"] == "insufficient_evidence"

    def test_an_admin_starts_a_session_for_an_agent(
        self, alice_client: APIClient, bob: User, company_a: Company
    ) -> None:
        response = alice_client.post(API, {"agent": member_id(bob, company_a), "notice_shown": True})
        assert response.status_code == 201
        assert response.json()["agent"] == {"id": member_id(bob, company_a), "email": "bob@a.test"}

    def test_an_agent_cannot_start_a_session_for_a_colleague(
        self, bob_client: APIClient, alice: User, company_a: Company, nothing_written: Written
    ) -> None:
        with nothing_written(*EVALUATION_MODELS):
            response = bob_client.post(API, {"agent": member_id(alice, company_a)})
        assert response.status_code == 403

    def test_a_token_must_name_the_agent(
        self, token_a_client: APIClient, bob: User, company_a: Company, nothing_written: Written
    ) -> None:
        with nothing_written(*EVALUATION_MODELS):
            refused = token_a_client.post(API, {"channel": "api"})
        assert refused.status_code == 400
        assert "agent" in refused.json()
        created = token_a_client.post(API, {"channel": "api", "agent": member_id(bob, company_a)})
        assert created.status_code == 201

    def test_a_read_only_token_cannot_start_a_session(
        self, read_token_a_client: APIClient, bob: User, company_a: Company, nothing_written: Written
    ) -> None:
        with nothing_written(*EVALUATION_MODELS):
            response = read_token_a_client.post(API, {"agent": member_id(bob, company_a)})
        assert response.status_code == 403

    def test_charlie_cannot_start_a_session_for_a_member_of_another_company(
        self, charlie_client: APIClient, bob: User, company_a: Company, nothing_written: Written
    ) -> None:
        with nothing_written(*EVALUATION_MODELS):
            response = charlie_client.post(API, {"agent": member_id(bob, company_a)})
        assert response.status_code == 400
        assert response.json() == {"agent": ["No member with this id in your company."]}

    def test_it_rejects_an_unknown_channel(self, bob_client: APIClient, nothing_written: Written) -> None:
        with nothing_written(*EVALUATION_MODELS):
            response = bob_client.post(API, {"channel": "fax"})
        assert response.status_code == 400
        assert "channel" in response.json()

    def test_anonymous_requests_are_refused(self, anon_client: APIClient) -> None:
        assert anon_client.post(API, {}).status_code in (401, 403)
        assert anon_client.get(API).status_code in (401, 403)


class TestList:
    def test_admins_see_every_session_and_agents_only_their_own(
        self, alice_client: APIClient, bob_client: APIClient, many_sessions: list[EvaluationSession]
    ) -> None:
        assert alice_client.get(API).json()["count"] == 5
        mine = bob_client.get(API).json()
        assert mine["count"] == 3
        assert {row["agent"]["email"] for row in mine["results"]} == {"bob@a.test"}

    def test_a_read_only_token_lists_every_session_of_its_company(
        self, read_token_a_client: APIClient, many_sessions: list[EvaluationSession]
    ) -> None:
        assert read_token_a_client.get(API).json()["count"] == 5

    def test_charlie_sees_none_of_company_as_sessions(
        self, charlie_client: APIClient, token_b_client: APIClient, many_sessions: list[EvaluationSession]
    ) -> None:
        assert charlie_client.get(API).json()["count"] == 0
        assert token_b_client.get(API).json()["count"] == 0

    def test_it_filters_by_agent_status_grade_channel_and_date(
        self, alice_client: APIClient, bob: User, company_a: Company, many_sessions: list[EvaluationSession]
    ) -> None:
        def count(**params: str) -> int:
            response = alice_client.get(API, params)
            assert response.status_code == 200, response.content
            return int(response.json()["count"])

        assert count(agent=member_id(bob, company_a)) == 3
        assert count(status="finished") == 1
        assert count(status="open") == 4
        assert count(grade="insufficient_evidence") == 1
        assert count(grade="A") == 0
        assert count(channel="live") == 5
        now = timezone.now()
        assert count(started_after=(now - timedelta(hours=1)).isoformat()) == 5
        assert count(started_before=(now - timedelta(hours=1)).isoformat()) == 0
        assert count(started_after=now.date().isoformat()) == 5

    def test_it_rejects_bad_filters_precisely(self, alice_client: APIClient) -> None:
        response = alice_client.get(API, {"status": "sleeping", "started_after": "yesterday"})
        assert response.status_code == 400
        assert set(response.json()) == {"status", "started_after"}

    def test_an_agent_filter_naming_another_companys_member_matches_nothing(
        self, charlie_client: APIClient, bob: User, company_a: Company, many_sessions: list[EvaluationSession]
    ) -> None:
        assert charlie_client.get(API, {"agent": member_id(bob, company_a)}).json()["count"] == 0

    def test_it_paginates(self, alice_client: APIClient, many_sessions: list[EvaluationSession]) -> None:
        body = alice_client.get(API, {"page": 1}).json()
        assert set(body) == {"count", "next", "previous", "results"}
        assert alice_client.get(API, {"page": 9}).status_code == 404

    def test_its_query_count_does_not_grow_with_the_number_of_sessions(
        self,
        alice_client: APIClient,
        alice: User,
        company_a: Company,
        many_sessions: list[EvaluationSession],
        django_assert_num_queries: Any,
    ) -> None:
        alice_client.get(API)  # warm the session
        with django_assert_num_queries(5):
            assert alice_client.get(API).json()["count"] == 5
        for _ in range(10):
            start(alice, company_a, role=Role.ADMIN)
        with django_assert_num_queries(5):
            assert alice_client.get(API).json()["count"] == 15


class TestDetailAndTransitions:
    def test_the_detail_shows_grade_counts_and_timeline(
        self, bob_client: APIClient, bob_session: EvaluationSession
    ) -> None:
        from tests.evaluations.test_actions import frame, record

        record(bob_session, *(frame(i, seconds=i * 4) for i in range(6)))
        body = bob_client.get(detail(bob_session)).json()
        assert body["grade"] == "A"
        assert body["stats"]["frames_processed"] == 6
        grade = body["grade_detail"]
        assert grade["letter"] == "A"
        assert grade["emotion_counts"]["happy"] == 6
        assert grade["final"] is False
        assert [bucket["frames"] for bucket in grade["timeline"]] == [3, 2, 1]

    def test_the_agent_pauses_resumes_and_finishes(self, bob_client: APIClient, bob_session: EvaluationSession) -> None:
        assert bob_client.post(detail(bob_session, "pause/")).json()["status"] == "paused"
        assert bob_client.post(detail(bob_session, "resume/")).json()["status"] == "open"
        finished = bob_client.post(detail(bob_session, "finish/")).json()
        assert finished["status"] == "finished"
        assert finished["grade_detail"]["final"] is True
        assert finished["grade_detail"]["rubric_version"] == 1
        again = bob_client.post(detail(bob_session, "finish/"))
        assert again.status_code == 200
        assert again.json()["ended_at"] == finished["ended_at"]

    def test_a_cancelled_session_cannot_be_finished(
        self, bob_client: APIClient, bob_session: EvaluationSession
    ) -> None:
        assert bob_client.post(detail(bob_session, "cancel/")).json()["status"] == "cancelled"
        response = bob_client.post(detail(bob_session, "finish/"))
        assert response.status_code == 409
        assert response.json()["code"] == "cancelled"

    def test_an_agent_gets_404_for_a_colleagues_session(
        self, bob_client: APIClient, alice: User, company_a: Company, nothing_written: Written
    ) -> None:
        session = start(alice, company_a, role=Role.ADMIN)
        with nothing_written(*EVALUATION_MODELS):
            assert bob_client.get(detail(session)).status_code == 404
            assert bob_client.post(detail(session, "finish/")).status_code == 404

    def test_an_admin_finishes_an_agents_session(self, alice_client: APIClient, bob_session: EvaluationSession) -> None:
        assert alice_client.post(detail(bob_session, "finish/")).json()["status"] == "finished"

    def test_a_read_only_token_reads_but_cannot_finish(
        self, read_token_a_client: APIClient, bob_session: EvaluationSession, nothing_written: Written
    ) -> None:
        assert read_token_a_client.get(detail(bob_session)).status_code == 200
        with nothing_written(*EVALUATION_MODELS):
            assert read_token_a_client.post(detail(bob_session, "finish/")).status_code == 403

    @pytest.mark.parametrize("suffix", ["", "observations/"])
    def test_charlie_gets_404_reading_a_session_of_company_a(
        self, charlie_client: APIClient, token_b_client: APIClient, bob_session: EvaluationSession, suffix: str
    ) -> None:
        assert charlie_client.get(detail(bob_session, suffix)).status_code == 404
        assert token_b_client.get(detail(bob_session, suffix)).status_code == 404

    @pytest.mark.parametrize("suffix", ["pause/", "resume/", "finish/", "cancel/"])
    def test_charlie_gets_404_and_changes_nothing_running_a_session_of_company_a(
        self,
        charlie_client: APIClient,
        token_b_client: APIClient,
        bob_session: EvaluationSession,
        suffix: str,
        nothing_written: Written,
    ) -> None:
        with nothing_written(*EVALUATION_MODELS):
            assert charlie_client.post(detail(bob_session, suffix)).status_code == 404
            assert token_b_client.post(detail(bob_session, suffix)).status_code == 404
        bob_session.refresh_from_db()
        assert bob_session.status == Status.OPEN

    def test_a_missing_session_is_the_same_404(self, charlie_client: APIClient, charlie: User) -> None:
        response = charlie_client.get(f"{API}00000000-0000-4000-8000-000000000000/")
        assert response.status_code == 404


class TestObservations:
    def test_it_lists_observations_in_frame_order_with_pagination(
        self, bob_client: APIClient, bob_session: EvaluationSession, django_assert_num_queries: Any
    ) -> None:
        from tests.evaluations.test_actions import frame, record

        record(bob_session, *(frame(i, faces=2) for i in range(30)))
        bob_client.get(detail(bob_session, "observations/"))
        with django_assert_num_queries(6):
            body = bob_client.get(detail(bob_session, "observations/")).json()
        assert body["count"] == 60
        assert len(body["results"]) == 50
        first = body["results"][0]
        assert (first["frame_sequence"], first["face_index"], first["is_primary"]) == (0, 0, True)
        assert set(first["emotions"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
        assert first["box"] == [10, 10, 100, 100]


class TestImages:
    def test_images_are_analysed_by_the_real_engine_and_stored(
        self,
        bob_client: APIClient,
        bob: User,
        company_a: Company,
        emotion_model: Path,
        face_jpeg: bytes,
        face_png: bytes,
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        session = start(bob, company_a, channel=Channel.IMAGES)
        with django_capture_on_commit_callbacks(execute=True):
            response = bob_client.post(
                detail(session, "images/"),
                {"images": [jpeg_upload(face_jpeg), SimpleUploadedFile("b.png", face_png, "image/png")]},
                format="multipart",
            )
        assert response.status_code == 202, response.content
        assert response.json()["sequences"] == [0, 1]
        session.refresh_from_db()
        assert (session.frames_received, session.frames_processed, session.frames_failed) == (2, 2, 0)
        faces = Observation.objects.for_company(company_a).filter(session=session)
        assert faces.count() >= 2
        box = faces.filter(is_primary=True).first()
        assert box is not None and box.model_version == "tiny-eval"
        # The astronaut's face is in the upper middle of the 512x512 photo.
        assert 150 < box.box_x + box.box_w / 2 < 330 and 40 < box.box_y + box.box_h / 2 < 230

    def test_one_corrupt_image_refuses_the_whole_upload(
        self, bob_client: APIClient, bob: User, company_a: Company, face_jpeg: bytes, nothing_written: Written
    ) -> None:
        session = start(bob, company_a, channel=Channel.IMAGES)
        with nothing_written(*EVALUATION_MODELS):
            response = bob_client.post(
                detail(session, "images/"),
                {"images": [jpeg_upload(face_jpeg), jpeg_upload(face_jpeg[: len(face_jpeg) // 2], "cut.jpg")]},
                format="multipart",
            )
        assert response.status_code == 400
        assert response.json()["code"] == "image_corrupt"
        assert "cut.jpg" in response.json()["detail"]

    def test_it_refuses_a_file_that_is_not_an_image(
        self, bob_client: APIClient, bob: User, company_a: Company, nothing_written: Written
    ) -> None:
        session = start(bob, company_a, channel=Channel.IMAGES)
        with nothing_written(*EVALUATION_MODELS):
            response = bob_client.post(
                detail(session, "images/"),
                {"images": [jpeg_upload(b"%PDF-1.7 not an image", "x.jpg")]},
                format="multipart",
            )
        assert (response.status_code, response.json()["code"]) == (400, "image_unsupported")

    def test_it_refuses_an_oversized_image(
        self, bob_client: APIClient, bob: User, company_a: Company, face_jpeg: bytes, settings: Any
    ) -> None:
        settings.EVALUATIONS_MAX_IMAGE_BYTES = 1024
        session = start(bob, company_a, channel=Channel.IMAGES)
        response = bob_client.post(detail(session, "images/"), {"images": [jpeg_upload(face_jpeg)]}, format="multipart")
        assert (response.status_code, response.json()["code"]) == (413, "image_too_large")

    def test_it_refuses_images_for_a_live_session_or_without_files(
        self, bob_client: APIClient, bob_session: EvaluationSession, face_jpeg: bytes
    ) -> None:
        live = bob_client.post(detail(bob_session, "images/"), {"images": [jpeg_upload(face_jpeg)]}, format="multipart")
        assert (live.status_code, live.json()["code"]) == (409, "channel")
        empty = bob_client.post(detail(bob_session, "images/"), {}, format="multipart")
        assert empty.status_code == 400

    def test_charlie_cannot_add_images_to_company_a(
        self,
        charlie_client: APIClient,
        bob: User,
        company_a: Company,
        face_jpeg: bytes,
        nothing_written: Written,
    ) -> None:
        session = start(bob, company_a, channel=Channel.IMAGES)
        with nothing_written(*EVALUATION_MODELS):
            response = charlie_client.post(
                detail(session, "images/"), {"images": [jpeg_upload(face_jpeg)]}, format="multipart"
            )
        assert response.status_code == 404


class TestVideo:
    @pytest.mark.parametrize("container", ["face_video", "face_webm"])
    def test_a_video_is_analysed_at_the_sample_rate_and_finishes_the_session(
        self,
        bob_client: APIClient,
        bob: User,
        company_a: Company,
        emotion_model: Path,
        container: str,
        request: pytest.FixtureRequest,
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        video: Path = request.getfixturevalue(container)
        session = start(bob, company_a, channel=Channel.VIDEO)
        upload = SimpleUploadedFile(video.name, video.read_bytes(), content_type="video/mp4")
        with django_capture_on_commit_callbacks(execute=True):
            response = bob_client.post(
                detail(session, "video/"), {"video": upload, "sample_fps": 2}, format="multipart"
            )
        assert response.status_code == 202, response.content
        assert response.json()["video"]["status"] == "queued"
        body = bob_client.get(detail(session)).json()
        assert body["video"]["status"] == "done"
        assert body["video"]["progress"] == 1.0
        assert body["status"] == "finished"
        frames = SessionFrame.objects.for_company(company_a).filter(session=session)
        assert frames.count() == 6  # 3 seconds at 2 frames per second
        assert sorted(frames.values_list("offset_seconds", flat=True)) == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
        assert Observation.objects.for_company(company_a).filter(session=session).count() >= 6
        assert not list(session.video_path.parent.glob("*.video"))  # the upload is deleted

    def test_the_analysed_video_frames_of_a_company_that_stores_frames_are_kept_as_jpegs(
        self,
        bob_client: APIClient,
        bob: User,
        company_a: Company,
        emotion_model: Path,
        face_video: Path,
        settings: Any,
        tmp_path: Path,
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        from evaluations.models import StoredFrame

        settings.MEDIA_ROOT = str(tmp_path / "media")
        Company.objects.filter(pk=company_a.pk).update(store_frames=True)
        session = start(bob, company_a, channel=Channel.VIDEO)
        upload = SimpleUploadedFile("call.mp4", face_video.read_bytes(), content_type="video/mp4")
        with django_capture_on_commit_callbacks(execute=True):
            response = bob_client.post(
                detail(session, "video/"), {"video": upload, "sample_fps": 2}, format="multipart"
            )
        assert response.status_code == 202, response.content
        kept = StoredFrame.objects.for_company(company_a).filter(session=session).order_by("sequence")
        assert [(f.sequence, f.content_type) for f in kept] == [(n, "image/jpeg") for n in range(6)]
        assert all((tmp_path / "media" / f.file.name).read_bytes()[:2] == b"\xff\xd8" for f in kept)

    def test_it_refuses_a_file_that_is_not_a_video(
        self, bob_client: APIClient, bob: User, company_a: Company, face_jpeg: bytes, nothing_written: Written
    ) -> None:
        session = start(bob, company_a, channel=Channel.VIDEO)
        with nothing_written(*EVALUATION_MODELS):
            response = bob_client.post(
                detail(session, "video/"), {"video": jpeg_upload(face_jpeg, "x.mp4")}, format="multipart"
            )
        assert (response.status_code, response.json()["code"]) == (400, "video_unsupported")

    def test_it_refuses_a_truncated_video(
        self, bob_client: APIClient, bob: User, company_a: Company, face_video: Path, nothing_written: Written
    ) -> None:
        session = start(bob, company_a, channel=Channel.VIDEO)
        cut = SimpleUploadedFile("cut.mp4", face_video.read_bytes()[:2000], content_type="video/mp4")
        with nothing_written(*EVALUATION_MODELS):
            response = bob_client.post(detail(session, "video/"), {"video": cut}, format="multipart")
        assert (response.status_code, response.json()["code"]) == (400, "video_corrupt")

    def test_charlie_cannot_upload_a_video_to_company_a(
        self, charlie_client: APIClient, bob: User, company_a: Company, face_video: Path, nothing_written: Written
    ) -> None:
        session = start(bob, company_a, channel=Channel.VIDEO)
        upload = SimpleUploadedFile("call.mp4", face_video.read_bytes(), content_type="video/mp4")
        with nothing_written(*EVALUATION_MODELS):
            response = charlie_client.post(detail(session, "video/"), {"video": upload}, format="multipart")
        assert response.status_code == 404


class TestAnalyse:
    def test_it_returns_faces_and_emotions_and_stores_nothing(
        self, bob_client: APIClient, emotion_model: Path, face_jpeg: bytes, nothing_written: Written
    ) -> None:
        with nothing_written(*EVALUATION_MODELS):
            response = bob_client.post("/api/v1/analyse/", {"image": jpeg_upload(face_jpeg)}, format="multipart")
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["width"], body["height"], body["model_version"]) == (512, 512, "tiny-eval")
        assert len(body["faces"]) >= 1
        face = body["faces"][0]
        assert sum(face["emotions"].values()) == pytest.approx(1.0, abs=0.01)
        assert face["dominant"] in face["emotions"]

    def test_it_accepts_api_tokens(self, token_a_client: APIClient, emotion_model: Path, face_jpeg: bytes) -> None:
        response = token_a_client.post("/api/v1/analyse/", {"image": jpeg_upload(face_jpeg)}, format="multipart")
        assert response.status_code == 200

    def test_it_refuses_bad_input_precisely(self, bob_client: APIClient, emotion_model: Path, face_jpeg: bytes) -> None:
        missing = bob_client.post("/api/v1/analyse/", {}, format="multipart")
        assert missing.status_code == 400 and "image" in missing.json()
        corrupt = bob_client.post("/api/v1/analyse/", {"image": jpeg_upload(face_jpeg[:900])}, format="multipart")
        assert (corrupt.status_code, corrupt.json()["code"]) == (400, "image_corrupt")
        text = bob_client.post("/api/v1/analyse/", {"image": jpeg_upload(b"hello", "x.txt")}, format="multipart")
        assert (text.status_code, text.json()["code"]) == (400, "image_unsupported")

    def test_it_refuses_anonymous_callers(self, anon_client: APIClient, face_jpeg: bytes) -> None:
        response = anon_client.post("/api/v1/analyse/", {"image": jpeg_upload(face_jpeg)}, format="multipart")
        assert response.status_code in (401, 403)


def test_every_endpoint_is_in_the_openapi_schema(alice_client: APIClient) -> None:
    schema = alice_client.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/sessions/",
        "/api/v1/sessions/{id}/",
        "/api/v1/sessions/{id}/pause/",
        "/api/v1/sessions/{id}/resume/",
        "/api/v1/sessions/{id}/finish/",
        "/api/v1/sessions/{id}/cancel/",
        "/api/v1/sessions/{id}/observations/",
        "/api/v1/sessions/{id}/images/",
        "/api/v1/sessions/{id}/video/",
        "/api/v1/analyse/",
    ):
        assert path in paths, path


def test_audit_rows_name_the_actor(bob_client: APIClient, bob_session: EvaluationSession, company_a: Company) -> None:
    bob_client.post(detail(bob_session, "finish/"))
    event = AuditEvent.objects.for_company(company_a).filter(action="session.finished").get()
    assert (event.actor_label, event.target_id) == ("bob@a.test", str(bob_session.public_id))
