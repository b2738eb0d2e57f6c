"""Session actions: life cycle, roles, rubric versions, idempotent frame recording."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.exceptions import ActionConflict, ActionError, ActionForbidden
from accounts.models import Actor, AuditEvent, Company, Role, User
from evaluations import actions, grading, recording
from evaluations.analysis import FrameInput
from evaluations.models import EvaluationSession, Observation, SessionFrame, Status
from evaluations.selectors import running_grade
from inference.results import Face
from tests.evaluations.conftest import start


def happy_face(size: int = 100) -> grading.Face:
    probabilities = tuple(0.94 if e == "happy" else 0.01 for e in grading.EMOTIONS)
    return Face(box=(10, 10, size, size), score=0.95, probabilities=probabilities)


def frame(sequence: int, seconds: float = 0.0, faces: int = 1) -> FrameInput:
    return FrameInput(
        sequence=sequence,
        captured_at=timezone.now() + timedelta(seconds=seconds),
        faces=tuple(happy_face(100 - 10 * i) for i in range(faces)),
        model_version="test-model",
    )


def record(session: EvaluationSession, *frames: FrameInput) -> recording.Recorded | None:
    return recording.record_observations(company_id=session.company_id, session_id=session.pk, frames=frames)


def audit_actions(company: Company) -> list[str]:
    return list(AuditEvent.objects.for_company(company).order_by("id").values_list("action", flat=True))


class TestLifeCycle:
    def test_starting_a_session_opens_it_under_the_current_rubric_and_audits_it(
        self, bob: User, company_a: Company
    ) -> None:
        session = start(bob, company_a)
        assert session.status == Status.OPEN
        assert session.rubric_version.version == 1
        assert session.rubric_version.rules == grading.Rubric.from_json(None).to_json()
        assert audit_actions(company_a)[-1] == "session.started"

    def test_a_changed_rubric_gets_a_new_version_and_an_unchanged_one_reuses_it(
        self, bob: User, company_a: Company
    ) -> None:
        first = start(bob, company_a)
        again = start(bob, company_a)
        company_a.grading_rubric = {"min_usable_frames": 3}
        company_a.save()
        changed = start(bob, company_a)
        assert first.rubric_version_id == again.rubric_version_id
        assert changed.rubric_version.version == 2
        assert changed.rubric_version.rubric.min_usable_frames == 3

    def test_it_refuses_to_start_under_an_invalid_rubric(self, bob: User, company_a: Company) -> None:
        company_a.grading_rubric = {"weights": {"happy": 500}}
        company_a.save()
        with pytest.raises(ActionError, match="grading rubric is invalid"):
            start(bob, company_a)
        assert EvaluationSession.objects.for_company(company_a).count() == 0

    def test_an_agent_cannot_start_a_session_for_someone_else(self, alice: User, bob: User, company_a: Company) -> None:
        with pytest.raises(ActionForbidden):
            actions.start_session(actor=Actor(user=bob, role=Role.AGENT), company=company_a, agent=alice)

    def test_the_agent_must_belong_to_the_company(self, alice: User, charlie: User, company_a: Company) -> None:
        with pytest.raises(ActionError, match="not a member"):
            actions.start_session(actor=Actor(user=alice, role=Role.ADMIN), company=company_a, agent=charlie)

    def test_pause_resume_finish(self, bob: User, bob_session: EvaluationSession) -> None:
        actor = Actor(user=bob, role=Role.AGENT)
        assert actions.pause_session(actor=actor, session=bob_session).status == Status.PAUSED
        assert actions.pause_session(actor=actor, session=bob_session).status == Status.PAUSED
        assert actions.resume_session(actor=actor, session=bob_session).status == Status.OPEN
        finished = actions.finish_session(actor=actor, session=bob_session)
        assert finished.status == Status.FINISHED
        assert finished.ended_at is not None
        assert finished.final_grade is not None
        assert finished.final_grade["outcome"] == grading.INSUFFICIENT
        assert finished.grade_letter == grading.INSUFFICIENT

    def test_finishing_twice_is_a_no_op(self, bob: User, bob_session: EvaluationSession, company_a: Company) -> None:
        actor = Actor(user=bob, role=Role.AGENT)
        first = actions.finish_session(actor=actor, session=bob_session)
        second = actions.finish_session(actor=actor, session=bob_session)
        assert second.final_grade == first.final_grade
        assert second.ended_at == first.ended_at
        assert audit_actions(company_a).count("session.finished") == 1

    def test_a_cancelled_session_cannot_be_finished_nor_a_finished_one_cancelled(
        self, bob: User, company_a: Company
    ) -> None:
        actor = Actor(user=bob, role=Role.AGENT)
        cancelled = actions.cancel_session(actor=actor, session=start(bob, company_a))
        with pytest.raises(ActionConflict):
            actions.finish_session(actor=actor, session=cancelled)
        finished = actions.finish_session(actor=actor, session=start(bob, company_a))
        with pytest.raises(ActionConflict):
            actions.cancel_session(actor=actor, session=finished)
        with pytest.raises(ActionConflict):
            actions.pause_session(actor=actor, session=finished)

    def test_an_agent_cannot_run_a_colleagues_session_but_an_admin_can(
        self, alice: User, bob: User, owner: User, company_a: Company
    ) -> None:
        owners_session = start(owner, company_a)
        with pytest.raises(ActionForbidden):
            actions.pause_session(actor=Actor(user=bob, role=Role.AGENT), session=owners_session)
        paused = actions.pause_session(actor=Actor(user=alice, role=Role.ADMIN), session=owners_session)
        assert paused.status == Status.PAUSED


class TestRecording:
    def test_it_stores_each_face_and_folds_the_primary_one_into_the_running_grade(
        self, bob_session: EvaluationSession
    ) -> None:
        recorded = record(bob_session, *(frame(i, seconds=i, faces=2) for i in range(5)))
        assert recorded is not None and recorded.stored == [0, 1, 2, 3, 4]
        bob_session.refresh_from_db()
        assert bob_session.frames_processed == 5
        assert bob_session.faces_observed == 10
        assert bob_session.grade_letter == "A"
        assert bob_session.score == pytest.approx(94 + 0.01 * (70 + 55 + 20 + 15 + 10), abs=0.01)
        primaries = Observation.objects.for_company(bob_session.company).filter(is_primary=True)
        assert primaries.count() == 5
        assert set(primaries.values_list("face_index", flat=True)) == {0}

    def test_a_repeated_sequence_number_is_ignored(self, bob_session: EvaluationSession) -> None:
        record(bob_session, frame(7))
        again = record(bob_session, frame(7), frame(7))
        assert again is not None and again.stored == [] and again.duplicates == [7, 7]
        bob_session.refresh_from_db()
        assert bob_session.frames_processed == 1
        assert SessionFrame.objects.for_company(bob_session.company).count() == 1
        assert Observation.objects.for_company(bob_session.company).count() == 1
        assert grading.GradeState.from_json(bob_session.grade_state).frames == 1

    def test_a_frame_without_faces_is_processed_but_not_usable(self, bob_session: EvaluationSession) -> None:
        record(bob_session, frame(1, faces=0))
        bob_session.refresh_from_db()
        assert (bob_session.frames_processed, bob_session.faces_observed) == (1, 0)
        assert running_grade(bob_session).usable_frames == 0

    def test_a_failed_frame_is_counted_with_its_reason(self, bob_session: EvaluationSession) -> None:
        failed = FrameInput(sequence=3, captured_at=timezone.now(), error="the JPEG image is truncated")
        record(bob_session, failed)
        bob_session.refresh_from_db()
        assert bob_session.frames_failed == 1
        row = SessionFrame.objects.for_company(bob_session.company).get()
        assert (row.outcome, row.error) == ("failed", "the JPEG image is truncated")

    def test_frames_arriving_after_the_end_are_counted_as_dropped(
        self, bob: User, bob_session: EvaluationSession
    ) -> None:
        actions.finish_session(actor=Actor(user=bob, role=Role.AGENT), session=bob_session)
        recorded = record(bob_session, frame(1), frame(2))
        assert recorded is not None and recorded.dropped == 2
        bob_session.refresh_from_db()
        assert (bob_session.frames_dropped, bob_session.frames_processed) == (2, 0)
        assert not Observation.objects.for_company(bob_session.company).exists()

    def test_frames_of_a_deleted_session_are_ignored_quietly(self, bob_session: EvaluationSession) -> None:
        company_id, session_id = bob_session.company_id, bob_session.pk
        bob_session.delete()
        assert recording.record_observations(company_id=company_id, session_id=session_id, frames=[frame(1)]) is None

    def test_the_company_id_must_match_the_session(self, bob_session: EvaluationSession, company_b: Company) -> None:
        assert (
            recording.record_observations(company_id=company_b.pk, session_id=bob_session.pk, frames=[frame(1)]) is None
        )
        assert not SessionFrame.unscoped_objects.exists()

    def test_the_final_grade_matches_the_running_grade_and_records_its_rubric_version(
        self, bob: User, bob_session: EvaluationSession
    ) -> None:
        record(bob_session, *(frame(i, seconds=i) for i in range(6)))
        finished = actions.finish_session(actor=Actor(user=bob, role=Role.AGENT), session=bob_session)
        assert finished.final_grade is not None
        assert finished.final_grade["letter"] == "A"
        assert finished.final_grade["rubric_version"] == 1
        assert finished.final_grade["stats"]["frames_processed"] == 6
        assert finished.final_grade["score"] == finished.score


def test_a_live_frame_that_waited_too_long_is_dropped_unanalysed(
    bob_session: EvaluationSession, face_jpeg: bytes
) -> None:
    import base64
    import time

    from evaluations.realtime import InFlight
    from evaluations.tasks import analyse_frame

    slot = InFlight.slot(str(bob_session.public_id), 4, "m4")
    analyse_frame(
        bob_session.company_id, bob_session.pk, 4, time.time() - 60, base64.b64encode(face_jpeg).decode(), slot
    )
    bob_session.refresh_from_db()
    assert (bob_session.frames_dropped, bob_session.frames_processed) == (1, 0)
    ledger = SessionFrame.objects.for_company(bob_session.company).get()
    assert (ledger.sequence, ledger.outcome, ledger.error, ledger.message) == (4, "dropped", "stale", "m4")
    assert not Observation.objects.for_company(bob_session.company).exists()


def test_live_frames_use_the_cheap_detector_and_flip_tta_and_uploaded_images_the_full_range_and_ten_crops(
    bob_session: EvaluationSession, face_jpeg: bytes, emotion_model: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64
    import time

    import inference
    from evaluations.realtime import InFlight
    from evaluations.tasks import analyse_frame
    from inference.api import Engine

    used: list[tuple[str, str]] = []
    real = Engine.analyse_frames

    def spy(engine: Engine, frames: list[object], options: inference.Options) -> list[inference.ImageResult]:
        used.append((options.detector, options.tta))
        return real(engine, frames, options)  # type: ignore[arg-type]

    monkeypatch.setattr(Engine, "analyse_frames", spy)
    payload = base64.b64encode(face_jpeg).decode()
    slot = InFlight.slot(str(bob_session.public_id), 1, "m1")
    analyse_frame(bob_session.company_id, bob_session.pk, 1, time.time(), payload, slot)
    analyse_frame(bob_session.company_id, bob_session.pk, 2, time.time(), payload, False)
    assert used == [("auto", "flip"), ("full", "ten")]
    bob_session.refresh_from_db()
    assert (bob_session.frames_processed, bob_session.faces_observed) == (2, 2)


@pytest.mark.parametrize(
    "name", ["evaluations.analyse_frame", "evaluations.analyse_live_frames", "evaluations.analyse_video"]
)
def test_analysis_tasks_are_routed_to_the_inference_queue(name: str) -> None:
    import evaluations.tasks  # noqa: F401  (registers the tasks)
    from moodsaas.celery import app

    assert name in app.tasks
    assert app.amqp.router.route({}, name)["queue"].name == "inference"
