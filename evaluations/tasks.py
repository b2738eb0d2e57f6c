"""Celery tasks of evaluation sessions. The analysis tasks run on the ``inference`` queue.

The queue comes from the task names: ``moodsaas.celery`` routes ``evaluations.analyse*`` there
(Celery 5 deprecates a ``queue=`` task attribute in favour of routes).

Tasks take ids (and the company id), re-fetch, return quietly when the session is gone, and are
idempotent: the frame ledger (unique per session and sequence number) makes a retried task a
no-op. Inference runs before, never inside, a database transaction.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db import connection as db_connection

from evaluations import analysis, protocol, queue, recording, retention
from evaluations import frames as frames_storage
from evaluations.analysis import FrameInput, Use
from evaluations.realtime import InFlight
from inference.results import ImageResult

T = TypeVar("T")

log = logging.getLogger(__name__)

VIDEO_BATCH_SECONDS = 2
"""Video frames are analysed and stored this many seconds at a time (one transaction each)."""


@worker_process_init.connect
def _load_models(**_: object) -> None:
    """Load the detector and emotion model once per worker process, before the first frame."""
    import inference

    try:
        version = inference.preload(("full", "short"))
    except inference.InferenceError:
        log.exception("inference models not loaded; frames will fail until a model is active")
    else:
        log.info("inference ready, emotion model %s", version)


@shared_task(
    name="evaluations.analyse_live_frames",
    soft_time_limit=20,
    time_limit=30,
    acks_late=True,
    ignore_result=True,
)
def analyse_live_frames(frames: list[dict[str, Any]]) -> None:
    """Analyse a batch of live frames (of any sessions, queued together by the web process).

    Frames older than ``EVALUATIONS_MAX_FRAME_AGE_MS`` (workers stalled, restarted or the task
    redelivered late) are recorded as dropped unanalysed; the others are decoded one by one and
    their faces classified in one model call. See :func:`_analyse_and_record`.
    """
    _analyse_and_record([queue.FrameJob.from_live_args(frame) for frame in frames], Use.LIVE)


@shared_task(
    name="evaluations.analyse_frame",
    soft_time_limit=20,
    time_limit=30,
    acks_late=True,
    ignore_result=True,
)
def analyse_frame(
    company_id: int,
    session_id: int,
    sequence: int,
    captured_at: float,
    image_b64: str,
    inflight_slot: str | None = None,
) -> None:
    """Analyse one frame (an uploaded image; or a live frame, ``inflight_slot`` set) and record its faces."""
    try:
        image = base64.b64decode(image_b64, validate=True)
    except binascii.Error:
        image = b""  # fails to decode below, with the frame recorded as failed
    message = inflight_slot.rsplit("/", 1)[-1] if inflight_slot else ""
    job = queue.FrameJob(company_id, session_id, sequence, captured_at, image, inflight_slot, message)
    _analyse_and_record([job], Use.LIVE if inflight_slot else Use.UPLOAD)


def _analyse_and_record(jobs: list[queue.FrameJob], use: Use) -> None:
    """Analyse frames, record each session's in one transaction, push the events, free the slots.

    Steps:
    1. Shed live frames that waited too long (analysing them would only make the next ones
       later): they are recorded as dropped, ``stale``.
    2. Analyse the others in one batch; inference runs outside any transaction.
    3. Record every session's frames in one transaction (``recording.record_batch``: its ledger
       makes a redelivered task change nothing), again on a broken database connection.
    4. Keep the frames of companies that store them, push every session's events in one go,
       then release the in-flight slots whatever happened.
    """
    try:
        now = time.time()
        inputs: list[FrameInput | None] = [None] * len(jobs)
        fresh: list[int] = []
        for index, job in enumerate(jobs):
            age_ms = int((now - job.captured_at) * 1000)
            if job.inflight_slot and age_ms > settings.EVALUATIONS_MAX_FRAME_AGE_MS:
                inputs[index] = FrameInput(
                    sequence=job.sequence, captured_at=_when(job), dropped="stale", message=job.message, age_ms=age_ms
                )
            else:
                fresh.append(index)
        for index, outcome in zip(fresh, _analyse([jobs[i].image for i in fresh], use), strict=True):
            job = jobs[index]
            if isinstance(outcome, str):
                frame = analysis.failed_frame(job.sequence, _when(job), outcome)
            else:
                frame = analysis.frame_input(job.sequence, _when(job), outcome)
            inputs[index] = dataclasses.replace(frame, message=job.message)
        by_session: dict[tuple[int, int], list[FrameInput]] = {}
        kept: dict[tuple[int, int], list[queue.FrameJob]] = {}
        for job, recorded_frame in zip(jobs, inputs, strict=True):  # the order frames came in
            assert recorded_frame is not None
            by_session.setdefault((job.company_id, job.session_id), []).append(recorded_frame)
            kept.setdefault((job.company_id, job.session_id), []).append(job)
        # One transaction for the batch: it returns quietly for a deleted session and counts frames
        # of an ended one as dropped.
        recorded = _with_database_retry(recording.record_batch, frames=by_session)
        events: dict[int, dict[str, list[dict[str, Any]]]] = {}
        for (company_id, _), result in recorded.items():
            if result.events:
                events.setdefault(company_id, {})[result.session_public_id] = result.events
        for company_id, sessions in events.items():
            protocol.push_events_on_commit(sessions, company_id)
        for key, result in recorded.items():
            if result.stored and any(job.store for job in kept[key]):
                # Only for companies that keep frames (after the push: results do not wait for
                # the disk); storing re-checks that choice.
                stored = set(result.stored)
                frames_storage.store_analysed_frames(
                    *key, [(job.sequence, job.image) for job in kept[key] if job.sequence in stored]
                )
    finally:
        InFlight.release_many([job.inflight_slot for job in jobs if job.inflight_slot])


def _when(job: queue.FrameJob) -> datetime:
    return datetime.fromtimestamp(job.captured_at, tz=UTC)


def _analyse(images: list[bytes], use: Use) -> list[ImageResult | str]:
    """A result or an error message per image; a model failure or time-out fails them all."""
    import inference

    if not images:
        return []
    try:
        return analysis.analyse_encoded(images, use)
    except inference.InferenceError as exc:
        return [str(exc)] * len(images)
    except SoftTimeLimitExceeded:
        return ["analysis timed out"] * len(images)


DATABASE_ATTEMPTS = 5


def _with_database_retry(record: Callable[..., T], **kwargs: Any) -> T:
    """Run ``record`` (one transaction), again on a fresh connection if the database connection broke.

    A connection terminated mid-transaction (a failover, a restarted PostgreSQL, an idle-killer)
    rolls the whole transaction back, so running it again stores the frames exactly once. After
    ``DATABASE_ATTEMPTS`` tries (about six seconds) the error propagates: the frames stay in
    flight and the live consumer settles them as lost once their time is up.
    """
    for attempt in range(DATABASE_ATTEMPTS):
        try:
            return record(**kwargs)
        except (OperationalError, InterfaceError):
            if attempt == DATABASE_ATTEMPTS - 1:
                raise
            log.warning("database connection lost while recording frames; retrying", exc_info=True)
            db_connection.close()
            time.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")


@shared_task(
    name="evaluations.analyse_video",
    soft_time_limit=1800,
    time_limit=1860,
    acks_late=True,
    ignore_result=True,
)
def analyse_video(company_id: int, session_id: int) -> None:
    """Analyse an uploaded video at the session's sample rate, then finish the session.

    Steps:
    1. Claim the video (queued, or processing by a worker that died); otherwise return.
    2. Sample frames, analyse ``VIDEO_BATCH_SECONDS`` at a time, store each batch with the
       progress (pushed over the websocket). Frames already stored by an earlier attempt are
       skipped without analysis.
    3. Mark the video done and finish the session, or failed with the reason; delete the file.
    """
    import inference
    from inference.video import sampled_frames

    session = recording.claim_video(company_id=company_id, session_id=session_id)
    if session is None:
        return
    path = session.video_path
    sample_fps = float(session.video_sample_fps or 1.0)
    already = session.video_frames_done
    batch: list[tuple[int, float, object]] = []
    error = ""

    def flush() -> bool:
        if not batch:
            return True
        results = analysis.analyse_images([f for _, _, f in batch], Use.VIDEO)
        frames = [
            analysis.frame_input(sequence, session.started_at + timedelta(seconds=offset), result, offset)
            for (sequence, offset, _), result in zip(batch, results, strict=True)
        ]
        done = batch[-1][0] + 1
        images = [(sequence, image) for sequence, _, image in batch]
        batch.clear()
        if not recording.record_video_batch(company_id=company_id, session_id=session_id, frames=frames, done=done):
            return False
        # JPEG-encoded and kept only if the company stores frames (one query a batch otherwise).
        frames_storage.store_analysed_frames(company_id, session_id, images)
        return True

    try:
        last_second, within = -1, 0
        for sequence, (second, image) in enumerate(sampled_frames(Path(path), sample_fps)):
            within = within + 1 if second == last_second else 0
            last_second = second
            if sequence < already:
                continue
            # Frames of one second are evenly spaced: place each at its share of the second.
            offset = second + min(within / sample_fps, 0.999)
            batch.append((sequence, offset, image))
            if len(batch) >= max(1, math.ceil(sample_fps * VIDEO_BATCH_SECONDS)) and not flush():
                error = "the session ended before the video was analysed"
                return
        if not flush():
            error = "the session ended before the video was analysed"
        elif not recording.video_frames_done(company_id=company_id, session_id=session_id):
            error = "the video has no readable frames"
    except inference.InferenceError as exc:
        error = str(exc)
    except SoftTimeLimitExceeded:
        error = "the video took too long to analyse"
    except Exception:
        log.exception("video analysis of session %s failed", session.public_id)
        error = "the video could not be analysed (internal error)"
        raise
    finally:
        recording.complete_video(company_id=company_id, session_id=session_id, error=error)
        path.unlink(missing_ok=True)


@shared_task(name="evaluations.purge_expired", ignore_result=True)
def purge_expired() -> None:
    """Apply every company's retention period (scheduled by Celery beat, ``CELERY_BEAT_SCHEDULE``)."""
    purged = retention.purge_expired_sessions()
    if purged:
        log.info("retention: purged sessions %s", purged)
