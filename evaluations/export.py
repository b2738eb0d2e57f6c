"""A company's data as one zip of JSON and CSV files (the owner's export, docs/privacy.md).

Reads only: the audited action that calls it is ``evaluations.privacy.export_company_data``.
Every row is read through the company's scoped managers, in batches (``iterator``), and written
straight into the zip, so memory stays flat whatever the company's size; the query count does
not grow with the rows.

Files (``manifest.json`` describes them again, for whoever opens the zip):

- ``sessions.json``: every session with its frozen grade (timeline included), counters, CSAT;
- ``sessions.csv``, ``grades.csv``: the same, flat, for spreadsheets;
- ``observations.csv``: every analysed face (box, the seven probabilities, quality flags);
- ``frames.csv``: the frame ledger (each analysed frame's outcome);
- ``consent_receipts.csv``: each live session's consent receipt (the notice text shown, its
  version and SHA-256, who confirmed it and how);
- ``stored_frames.csv`` and ``stored-frames/<session>/<sequence>.<ext>``: the frames the
  company keeps (only if it opted in to frame storage), with the images themselves;
- ``members.csv``: who belongs to the company, with which role;
- ``audit.json``, ``audit.csv``: the whole audit log.

CSV cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``,
tab or carriage return) get a leading apostrophe; the JSON files keep every value as stored.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from accounts.models import AuditEvent, Company, Membership
from evaluations.grading import EMOTIONS
from evaluations.models import ConsentReceipt, EvaluationSession, Observation, SessionFrame, StoredFrame

FORMAT_VERSION = 1
BATCH = 2000
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

FILES = {
    "sessions.json": "Every session: agent, customer reference, channel, status, times, the grade frozen at the "
    "end (timeline, emotion shares, rubric and model versions), frame counters, CSAT.",
    "sessions.csv": "The sessions, one row each.",
    "grades.csv": "Each session's grade: letter, score, confidence, trajectory, rubric and model versions.",
    "observations.csv": "Every analysed face: session, frame, time, box, the seven expression probabilities, "
    "the dominant one, quality flags, model version.",
    "frames.csv": "The frame ledger: each analysed frame's sequence number, time, outcome and number of faces.",
    "consent_receipts.csv": "Each live session's consent receipt: the camera notice shown (its exact text, version "
    "and SHA-256), when, who confirmed it and how.",
    "stored_frames.csv": "The frames the company keeps for its own review (only with frame storage switched on): "
    "session, frame number, time, type, size and the image's name in stored-frames/.",
    "stored-frames/": "The stored images themselves, one folder per session (rows: the number of images).",
    "members.csv": "The company's members and their roles.",
    "audit.json": "The audit log: who did what, when, to which object.",
    "audit.csv": "The audit log, one row per entry (metadata as JSON).",
}


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        value = json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _write_csv(archive: zipfile.ZipFile, name: str, header: list[str], rows: Iterable[Iterable[Any]]) -> int:
    count = 0
    with archive.open(name, "w") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        writer = csv.writer(text)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_cell(value) for value in row])
            count += 1
    return count


def _write_json_list(archive: zipfile.ZipFile, name: str, items: Iterable[dict[str, Any]]) -> int:
    """A JSON array written item by item (the list is never held in memory)."""
    count = 0
    with archive.open(name, "w") as raw, io.TextIOWrapper(raw, encoding="utf-8") as text:
        text.write("[")
        for item in items:
            text.write(",\n" if count else "\n")
            text.write(json.dumps(item, cls=DjangoJSONEncoder, ensure_ascii=False))
            count += 1
        text.write("\n]\n")
    return count


def _sessions(company: Company) -> Iterator[EvaluationSession]:
    return (
        EvaluationSession.objects.for_company(company)
        .select_related("agent", "rubric_version")
        .defer("grade_state", "rubric_version__rules")
        .order_by("started_at", "pk")
        .iterator(chunk_size=BATCH)
    )


def _session_json(session: EvaluationSession) -> dict[str, Any]:
    return {
        "id": session.public_id,
        "agent": session.agent.email if session.agent else None,
        "customer_reference": session.customer_reference,
        "channel": session.channel,
        "status": session.status,
        "started_at": session.started_at,
        "ended_at": session.ended_at,
        "grade": {
            "letter": session.grade_letter or None,
            "score": session.score,
            "confidence": session.confidence,
            "trajectory": session.trajectory or None,
        },
        "final_grade": session.final_grade,
        "rubric_version": session.rubric_version.version,
        "csat": session.csat,
        "csat_recorded_at": session.csat_recorded_at,
        "video_status": session.video_status or None,
        "counters": session.stats(),
    }


SESSION_COLUMNS = [
    "session_id", "agent", "customer_reference", "channel", "status", "started_at", "ended_at", "grade", "score",
    "confidence", "trajectory", "csat", "rubric_version", "frames_received", "frames_rejected", "frames_dropped",
    "frames_processed", "frames_failed", "faces_observed",
]  # fmt: skip


def _session_row(session: EvaluationSession) -> list[Any]:
    return [
        session.public_id, session.agent.email if session.agent else "", session.customer_reference, session.channel,
        session.status, session.started_at, session.ended_at, session.grade_letter, session.score,
        session.confidence, session.trajectory, session.csat, session.rubric_version.version,
        session.frames_received, session.frames_rejected, session.frames_dropped, session.frames_processed,
        session.frames_failed, session.faces_observed,
    ]  # fmt: skip


GRADE_COLUMNS = [
    "session_id", "letter", "score", "confidence", "trajectory", "final", "rubric_version", "model_version", "graded_at",
]  # fmt: skip


def _grade_row(session: EvaluationSession) -> list[Any]:
    final = session.final_grade or {}
    return [
        session.public_id, session.grade_letter, session.score, session.confidence, session.trajectory,
        bool(session.final_grade), session.rubric_version.version, final.get("model_version", ""),
        final.get("graded_at", ""),
    ]  # fmt: skip


OBSERVATION_FIELDS = [
    "session__public_id", "frame_sequence", "captured_at", "offset_seconds", "face_index", "is_primary", "box_x",
    "box_y", "box_w", "box_h", "detection_score", *EMOTIONS, "dominant", "quality_flags", "model_version",
]  # fmt: skip
OBSERVATION_COLUMNS = ["session_id", *OBSERVATION_FIELDS[1:]]
FRAME_FIELDS = ["session__public_id", "sequence", "captured_at", "offset_seconds", "outcome", "faces", "error"]
FRAME_COLUMNS = ["session_id", *FRAME_FIELDS[1:]]
AUDIT_FIELDS = ["created_at", "actor_label", "action", "target_type", "target_id", "metadata"]
RECEIPT_FIELDS = [
    "session__public_id", "notice_version", "notice_sha256", "notice_text", "confirmed_at", "confirmed_by", "channel",
]  # fmt: skip
RECEIPT_COLUMNS = ["session_id", *RECEIPT_FIELDS[1:]]
STORED_FRAME_FIELDS = ["session__public_id", "sequence", "captured_at", "content_type", "size", "file"]
STORED_FRAME_COLUMNS = ["session_id", "sequence", "captured_at", "content_type", "size", "image"]


def _image_name(session_id: Any, file_name: str) -> str:
    """Where a stored image goes in the zip: ``stored-frames/<session id>/<file's own name>``."""
    return f"stored-frames/{session_id}/{file_name.rsplit('/', 1)[-1]}"


def _write_stored_frames(archive: zipfile.ZipFile, company: Company) -> tuple[int, int]:
    """The stored frames' list, then their images (uncompressed: JPEG, PNG and WebP are already).

    Two passes over the rows, so that neither the list nor the images are held in memory; a frame
    purged between the passes is listed without its image.
    """
    frames = StoredFrame.objects.for_company(company).order_by("session_id", "sequence")
    listing = (
        [session_id, sequence, captured_at, content_type, size, _image_name(session_id, file_name)]
        for session_id, sequence, captured_at, content_type, size, file_name in frames.values_list(
            *STORED_FRAME_FIELDS
        ).iterator(chunk_size=BATCH)
    )
    count = _write_csv(archive, "stored_frames.csv", STORED_FRAME_COLUMNS, listing)
    images = 0
    for session_id, file_name in frames.values_list("session__public_id", "file").iterator(chunk_size=BATCH):
        try:
            archive.write(Path(settings.MEDIA_ROOT) / file_name, _image_name(session_id, file_name), zipfile.ZIP_STORED)
        except FileNotFoundError:
            continue  # purged since the list was written
        images += 1
    return count, images


def _audit(company: Company) -> Iterator[tuple[Any, ...]]:
    return (
        AuditEvent.objects.for_company(company)
        .order_by("created_at", "pk")
        .values_list(*AUDIT_FIELDS)
        .iterator(chunk_size=BATCH)
    )


def write_company_export(company: Company, out: IO[bytes], *, exported_by: str) -> dict[str, int]:
    """Write ``company``'s data as a zip into ``out``; return the number of rows per file."""
    counts: dict[str, int] = {}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        counts["sessions.json"] = _write_json_list(archive, "sessions.json", map(_session_json, _sessions(company)))
        counts["sessions.csv"] = _write_csv(
            archive, "sessions.csv", SESSION_COLUMNS, map(_session_row, _sessions(company))
        )
        counts["grades.csv"] = _write_csv(archive, "grades.csv", GRADE_COLUMNS, map(_grade_row, _sessions(company)))
        observations = (
            Observation.objects.for_company(company)
            .order_by("session_id", "frame_sequence", "face_index")
            .values_list(*OBSERVATION_FIELDS)
            .iterator(chunk_size=BATCH)
        )
        counts["observations.csv"] = _write_csv(archive, "observations.csv", OBSERVATION_COLUMNS, observations)
        frames = (
            SessionFrame.objects.for_company(company)
            .order_by("session_id", "sequence")
            .values_list(*FRAME_FIELDS)
            .iterator(chunk_size=BATCH)
        )
        counts["frames.csv"] = _write_csv(archive, "frames.csv", FRAME_COLUMNS, frames)
        receipts = (
            ConsentReceipt.objects.for_company(company)
            .order_by("confirmed_at", "pk")
            .values_list(*RECEIPT_FIELDS)
            .iterator(chunk_size=BATCH)
        )
        counts["consent_receipts.csv"] = _write_csv(archive, "consent_receipts.csv", RECEIPT_COLUMNS, receipts)
        counts["stored_frames.csv"], counts["stored-frames/"] = _write_stored_frames(archive, company)
        members = (
            Membership.objects.for_company(company)
            .order_by("created_at", "pk")
            .values_list("public_id", "user__email", "role", "created_at")
        )
        counts["members.csv"] = _write_csv(archive, "members.csv", ["member_id", "email", "role", "joined_at"], members)
        counts["audit.json"] = _write_json_list(
            archive, "audit.json", (dict(zip(AUDIT_FIELDS, row, strict=True)) for row in _audit(company))
        )
        counts["audit.csv"] = _write_csv(archive, "audit.csv", AUDIT_FIELDS, _audit(company))
        manifest = {
            "format_version": FORMAT_VERSION,
            "company": {"id": str(company.public_id), "name": company.name},
            "exported_at": timezone.now().isoformat(),
            "exported_by": exported_by,
            "files": {name: {"description": FILES[name], "rows": counts[name]} for name in FILES},
            "notes": "Times are ISO 8601 in UTC. CSV cells starting with = + - @ get a leading apostrophe "
            "so that spreadsheets do not run them; the JSON files keep every value as stored.",
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    return counts
