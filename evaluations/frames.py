"""Opt-in frame storage: the analysed images a company chose to keep for its own review.

Nothing is stored unless the company has ``store_frames`` switched on when a frame is handed in
here; then the image is kept until it is ``frame_retention_days`` old (``purge_expired_frames``,
run with the hourly retention purge), its session is deleted, or an owner deletes the stored
frames (``evaluations.privacy.delete_stored_frames``).

Files live under ``MEDIA_ROOT/stored-frames/<company public id>/<session public id>/`` as
``<sequence>.<jpg|png|webp>``: every part of the path is a server-side id, never client input.
The type comes from the bytes themselves (JPEG, PNG or WebP), never from a client's word.

Storing is bookkeeping after the analysis, never part of it: :func:`store_analysed_frames` logs a
failure and returns, so a full disk or a vanished session cannot cost a frame its outcome.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import FileResponse, Http404
from django.utils import timezone

from accounts.models import Company
from evaluations.models import EvaluationSession, FrameOutcome, SessionFrame, StoredFrame, stored_frames_root

log = logging.getLogger(__name__)

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
JPEG_QUALITY = 85
"""Quality of the JPEG a decoded video frame is stored as (what the live page sends is about 0.8)."""
PURGE_BATCH = 1000

FrameImage = tuple[int, Any]
"""``(sequence, image)``: the image as the bytes that were analysed, or a decoded BGR array
(a sampled video frame), which is encoded as JPEG only if the company stores frames."""


def sniff_content_type(data: bytes) -> str | None:
    """The image type from its first bytes: JPEG, PNG or WebP, else None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def session_directory(company_public_id: uuid.UUID, session_public_id: uuid.UUID) -> Path:
    return stored_frames_root() / str(company_public_id) / str(session_public_id)


def frame_name(company_public_id: uuid.UUID, session_public_id: uuid.UUID, sequence: int, content_type: str) -> str:
    """The file's name relative to ``MEDIA_ROOT`` (what ``StoredFrame.file`` holds)."""
    path = session_directory(company_public_id, session_public_id) / f"{sequence:012d}.{EXTENSIONS[content_type]}"
    return path.relative_to(Path(settings.MEDIA_ROOT)).as_posix()


def encode_jpeg(image: Any) -> bytes:
    """A decoded BGR image as JPEG bytes."""
    import cv2

    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("the frame could not be encoded as JPEG")
    return bytes(encoded)


def store_analysed_frames(company_id: int, session_id: int, frames: Sequence[FrameImage]) -> int:
    """Keep these frames of a session if its company stores frames; return how many were stored.

    Call it after the frames' analysis is recorded, outside any inference and outside the
    recording transaction. It never raises: a failure is logged and nothing half-written stays
    (no row without its file, no file without its row). Frames already stored are skipped, so a
    retried task may call it again.
    """
    if not frames:
        return 0
    try:
        return _store(company_id, session_id, frames)
    except Exception:
        # Storage is the company's extra, never a reason to lose or retry an analysed frame.
        log.exception("could not store %d frame(s) of session %s", len(frames), session_id)
        return 0


def _store(company_id: int, session_id: int, frames: Sequence[FrameImage]) -> int:
    """Steps:
    1. Read the company's choice and the ids of the path in one query; nothing more when the
       company does not store frames (the usual case) or the session is gone.
    2. Leave out sequence numbers already stored and frames the ledger says were dropped
       unanalysed; take each frame's time from its ledger row (a frame not recorded yet, such as
       an image just uploaded, is stamped now).
    3. Write each file under a temporary name and rename it into place, so a reader never sees
       half a file.
    4. Insert the rows in one statement (a concurrent duplicate is ignored); if that fails,
       remove the files just written.
    """
    found = (
        EvaluationSession.objects.for_company_id(company_id)
        .filter(pk=session_id)
        .values_list("company__store_frames", "company__public_id", "public_id")
        .first()
    )
    if found is None or not found[0]:
        return 0
    _stores, company_public_id, session_public_id = found
    wanted = dict(frames)  # one image per sequence number; the last one given wins
    already = set(
        StoredFrame.objects.for_company_id(company_id)
        .filter(session_id=session_id, sequence__in=list(wanted))
        .values_list("sequence", flat=True)
    )
    ledger = {
        sequence: (captured_at, outcome)
        for sequence, captured_at, outcome in SessionFrame.objects.for_company_id(company_id)
        .filter(session_id=session_id, sequence__in=list(wanted))
        .values_list("sequence", "captured_at", "outcome")
    }
    now = timezone.now()
    rows: list[StoredFrame] = []
    written: list[Path] = []
    directory = session_directory(company_public_id, session_public_id)
    try:
        for sequence, image in wanted.items():
            captured_at, outcome = ledger.get(sequence, (now, None))
            if sequence in already or outcome == FrameOutcome.DROPPED:  # a dropped frame was never analysed
                continue
            data = image if isinstance(image, bytes) else encode_jpeg(image)
            content_type = sniff_content_type(data)
            if content_type is None:
                log.warning("frame %s of session %s is not a JPEG, PNG or WebP image: not stored", sequence, session_id)
                continue
            name = frame_name(company_public_id, session_public_id, sequence, content_type)
            _write(directory, Path(settings.MEDIA_ROOT) / name, data)
            written.append(Path(settings.MEDIA_ROOT) / name)
            rows.append(
                StoredFrame(
                    company_id=company_id,
                    session_id=session_id,
                    sequence=sequence,
                    captured_at=captured_at,
                    content_type=content_type,
                    size=len(data),
                    file=name,
                )
            )
        with transaction.atomic():  # a savepoint if the caller is in a transaction: only ours rolls back
            StoredFrame.objects.bulk_create(rows, ignore_conflicts=True)
    except BaseException:
        remove_files(written)
        raise
    return len(rows)


def _write(directory: Path, path: Path, data: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".incoming-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- Serving -------------------------------------------------------------------------------------


def frame_response(frame: StoredFrame) -> FileResponse:
    """The stored image as a response, for a caller that has checked who may see its session.

    Never cached by shared caches; served inline with its sniffed type only (``nosniff``), so a
    stored file can never be taken for a page. A row whose file is gone is a 404.
    """
    try:
        handle = frame.path.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(handle, content_type=frame.content_type)
    response["Content-Disposition"] = f'inline; filename="frame-{frame.sequence}.{EXTENSIONS[frame.content_type]}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- Deleting ------------------------------------------------------------------------------------


def remove_files(paths: Iterable[Path]) -> None:
    """Delete files and then their directories up to ``stored-frames/`` once they are empty."""
    root = stored_frames_root()
    parents: set[Path] = set()
    for path in paths:
        path.unlink(missing_ok=True)
        parents.add(path.parent)
    for directory in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        while directory != root and root in directory.parents:
            try:
                directory.rmdir()
            except OSError:  # not empty (or already gone with a sibling): stop climbing
                break
            directory = directory.parent


def remove_files_on_commit(names: Sequence[str]) -> None:
    """After the rows' deletion commits, delete their files (``StoredFrame.file`` names)."""
    if names:
        paths = [Path(settings.MEDIA_ROOT) / name for name in names]
        transaction.on_commit(functools.partial(remove_files, paths))


def delete_frames_of_sessions(company: Company, sessions: Sequence[tuple[int, uuid.UUID]]) -> int:
    """Delete the stored frames of sessions ``(pk, public_id)`` being deleted; files after commit.

    Call inside the deleting transaction. The sessions' whole directories go after commit, which
    also takes any file whose row never got written.
    """
    ids = [pk for pk, _public_id in sessions]
    deleted, _by_model = StoredFrame.objects.for_company(company).filter(session_id__in=ids).delete()
    directories = [session_directory(company.public_id, public_id) for _pk, public_id in sessions]
    transaction.on_commit(functools.partial(_remove_directories, directories))
    return deleted


def _remove_directories(directories: Sequence[Path]) -> None:
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)
    for company_directory in {d.parent for d in directories}:
        with contextlib.suppress(OSError):  # other sessions' frames are still there
            company_directory.rmdir()


def delete_company_frames(company: Company, *, captured_before: datetime | None = None) -> int:
    """Delete the company's stored frames (those captured before ``captured_before``, if given).

    Rows in batches inside the caller's transaction, files after it commits; returns the count.
    """
    frames = StoredFrame.objects.for_company(company).order_by("pk")
    if captured_before is not None:
        frames = frames.filter(captured_at__lt=captured_before)
    total = 0
    while batch := list(frames.values_list("pk", "file")[:PURGE_BATCH]):
        StoredFrame.objects.for_company(company).filter(pk__in=[pk for pk, _name in batch]).delete()
        remove_files_on_commit([name for _pk, name in batch])
        total += len(batch)
    return total
