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
import logging
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from django.conf import settings

from evaluations import analysis, recording, retention
from evaluations.analysis import FrameInput, Use
from evaluations.realtime import InFlight

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
    """Analyse one frame (a live frame or an uploaded image) and record its faces.

    ``inflight_slot`` is the live frame's slot in ``InFlight`` (``<session public id>/...``),
    released whatever happens. A live frame older than ``EVALUATIONS_MAX_FRAME_AGE_MS`` (workers
    stalled or restarted) is dropped unanalysed.
    """
    try:
        age_ms = int((time.time() - captured_at) * 1000)
        if inflight_slot and age_ms > settings.EVALUATIONS_MAX_FRAME_AGE_MS:
            # Workers are behind: analysing a stale frame would only make the next ones later.
            recording.drop_stale_frame(
                company_id=company_id,
                session_id=session_id,
                session_public_id=inflight_slot.split("/", 1)[0],
                sequence=sequence,
                age_ms=age_ms,
            )
            return
        # The re-fetch is record_observations' row lock: it returns quietly for a deleted session
        # and counts frames of an ended one as dropped. Skipping a pre-check saves a query per frame.
        frame = _analyse(
            sequence, datetime.fromtimestamp(captured_at, tz=UTC), image_b64, Use.LIVE if inflight_slot else Use.UPLOAD
        )
        recording.record_observations(company_id=company_id, session_id=session_id, frames=[frame])
    finally:
        if inflight_slot:
            InFlight.release(inflight_slot)


def _analyse(sequence: int, captured_at: datetime, image_b64: str, use: Use) -> FrameInput:
    import inference

    try:
        data = base64.b64decode(image_b64, validate=True)
    except binascii.Error:
        return analysis.failed_frame(sequence, captured_at, "the frame is not valid base64")
    try:
        result = analysis.analyse_image(data, use)
    except inference.InferenceError as exc:
        return analysis.failed_frame(sequence, captured_at, str(exc))
    except SoftTimeLimitExceeded:
        return analysis.failed_frame(sequence, captured_at, "analysis timed out")
    return analysis.frame_input(sequence, captured_at, result)


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
        batch.clear()
        return recording.record_video_batch(company_id=company_id, session_id=session_id, frames=frames, done=done)

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
