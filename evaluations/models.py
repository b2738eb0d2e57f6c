"""Evaluation sessions and what was observed in them.

A frame leaves a :class:`SessionFrame` ledger row (its sequence number, time and outcome) and one
:class:`Observation` per analysed face. The image itself is kept (:class:`StoredFrame`) only when
the company opted in to frame storage, and only for its ``frame_retention_days``. Every live
session has its :class:`ConsentReceipt`.

Every model inherits its managers from ``CompanyOwned``: ``objects.for_company(company)`` (or
``for_company_id(id)`` in workers, which hold ids) and the greppable escape hatch
``unscoped_objects``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import CompanyOwned
from evaluations.grading import DETERIORATED, EMOTIONS, INSUFFICIENT, RECOVERED, STEADY, Rubric


class RubricVersion(CompanyOwned):
    """An immutable snapshot of a company's grading rubric; sessions and grades point at one."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    version = models.PositiveIntegerField()
    fingerprint = models.CharField(max_length=64, help_text="sha256 of the canonical rules")
    rules = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["company", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["company", "version"], name="rubric_unique_company_version"),
            models.UniqueConstraint(fields=["company", "fingerprint"], name="rubric_unique_company_fingerprint"),
        ]

    def __str__(self) -> str:
        return f"rubric v{self.version} of {self.company_id}"

    @property
    def rubric(self) -> Rubric:
        return Rubric.from_json(self.rules)


class Channel(models.TextChoices):
    LIVE = "live", _("Live camera")
    IMAGES = "images", _("Image upload")
    VIDEO = "video", _("Video file")
    API = "api", _("API")


class Status(models.TextChoices):
    OPEN = "open", _("Open")
    PAUSED = "paused", _("Paused")
    FINISHED = "finished", _("Finished")
    CANCELLED = "cancelled", _("Cancelled")


class GradeLetter(models.TextChoices):
    A = "A", _("A (happy or surprised)")
    B = "B", _("B (neutral)")
    C = "C", _("C (sad)")
    D = "D", _("D (fear or disgust)")
    F = "F", _("F (angry)")
    INSUFFICIENT = INSUFFICIENT, _("Insufficient evidence")


class Trajectory(models.TextChoices):
    RECOVERED = RECOVERED, _("Recovered")
    STEADY = STEADY, _("Steady")
    DETERIORATED = DETERIORATED, _("Deteriorated")


class VideoStatus(models.TextChoices):
    NONE = "", _("No video")
    QUEUED = "queued", _("Queued")
    PROCESSING = "processing", _("Processing")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class EvaluationSession(CompanyOwned):
    """One agent serving one customer, graded from the customer's facial expressions.

    Counters (all frames the session was sent): ``received = rejected + dropped + processed +
    failed + in flight``. Dropped frames were valid but shed on purpose (rate limit or workers
    behind); rejected ones were invalid (size, type, duplicate sequence, session not open).
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    customer_reference = models.CharField(max_length=200, blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.LIVE)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    rubric_version = models.ForeignKey(RubricVersion, on_delete=models.PROTECT, related_name="+")

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField()
    paused_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    # Running grade, updated with every frame; the final snapshot is frozen by finish_session.
    grade_state = models.JSONField(default=dict, blank=True)
    grade_letter = models.CharField(max_length=32, choices=GradeLetter.choices, blank=True, db_index=True)
    score = models.FloatField(null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    final_grade = models.JSONField(null=True, blank=True)
    trajectory = models.CharField(
        max_length=16,
        choices=Trajectory.choices,
        blank=True,
        help_text="Start versus end of a finished session (docs/grading.md); empty: too short to tell.",
    )

    next_sequence = models.PositiveBigIntegerField(default=0, help_text="Next server-assigned frame number.")
    frames_received = models.PositiveIntegerField(default=0)
    frames_rejected = models.PositiveIntegerField(default=0)
    frames_dropped = models.PositiveIntegerField(default=0)
    frames_processed = models.PositiveIntegerField(default=0)
    frames_failed = models.PositiveIntegerField(default=0)
    faces_observed = models.PositiveIntegerField(default=0)

    # The customer's own answer to the company's satisfaction survey, for calibrating our score.
    csat = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)], help_text="CSAT 1-5."
    )
    csat_recorded_at = models.DateTimeField(null=True, blank=True)

    video_status = models.CharField(max_length=16, choices=VideoStatus.choices, blank=True, default=VideoStatus.NONE)
    video_sample_fps = models.FloatField(null=True, blank=True)
    video_frames_total = models.PositiveIntegerField(default=0)
    video_frames_done = models.PositiveIntegerField(default=0)
    video_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["company", "-started_at"], name="session_company_started"),
            models.Index(fields=["company", "agent", "-started_at"], name="session_company_agent"),
            models.Index(fields=["company", "status"], name="session_company_status"),
            models.Index(fields=["company", "grade_letter", "-started_at"], name="session_company_grade"),
            # The dashboard's aggregates (evaluations.analytics) read finished sessions of a period:
            # every column they use is in this index, so PostgreSQL answers them from the index alone
            # (an index-only scan) instead of reading the wide rows with their JSON grades. At 20,000
            # sessions the 90-day KPI query drops from 96 to 6 ms (docs/benchmarks.md, "Portal at
            # scale"). The columns after started_at are keys rather than INCLUDE columns, which
            # SQLite (embedded mode) does not support and warns about (models.W040).
            models.Index(
                fields=["company", "started_at", "agent", "grade_letter", "score", "trajectory", "csat", "id"],
                condition=models.Q(status="finished"),
                name="session_finished_started",
            ),
        ]

    def __str__(self) -> str:
        return f"session {self.public_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        """Frames are recorded only while open."""
        return self.status == Status.OPEN

    @property
    def is_active(self) -> bool:
        """Open or paused: not yet finished or cancelled."""
        return self.status in (Status.OPEN, Status.PAUSED)

    @property
    def video_path(self) -> Path:
        """Where this session's uploaded video waits for analysis (deleted once analysed)."""
        return video_file(self.company.public_id, self.public_id)

    @property
    def video_progress(self) -> float | None:
        if not self.video_status:
            return None
        if self.video_status == VideoStatus.DONE:
            return 1.0
        if not self.video_frames_total:
            return 0.0
        return min(1.0, round(self.video_frames_done / self.video_frames_total, 3))

    def stats(self) -> dict[str, Any]:
        return {
            "frames_received": self.frames_received,
            "frames_rejected": self.frames_rejected,
            "frames_dropped": self.frames_dropped,
            "frames_processed": self.frames_processed,
            "frames_failed": self.frames_failed,
            "faces_observed": self.faces_observed,
        }


def video_file(company_public_id: uuid.UUID, session_public_id: uuid.UUID) -> Path:
    """Where an uploaded video waits for analysis; derived from server-side ids only."""
    return Path(settings.MEDIA_ROOT) / "video-uploads" / str(company_public_id) / f"{session_public_id}.video"


class FrameOutcome(models.TextChoices):
    PROCESSED = "processed", _("Processed")
    FAILED = "failed", _("Failed")
    DROPPED = "dropped", _("Dropped")


class SessionFrame(CompanyOwned):
    """Ledger of frames that reached a worker: one row per (session, sequence), the idempotency claim.

    ``message`` names the websocket message a live frame came in (a nonce the consumer gives it):
    a task delivered again finds its own row and changes nothing, while the same sequence number
    sent again by the client (after a reconnect) finds another message's row and is counted as
    rejected. A live frame that waited too long for a worker, or whose task was lost with the
    broker, gets a ``dropped`` row, so no later delivery can count it twice.
    """

    session = models.ForeignKey(EvaluationSession, on_delete=models.CASCADE, related_name="+")
    sequence = models.PositiveBigIntegerField()
    captured_at = models.DateTimeField()
    offset_seconds = models.FloatField(help_text="Seconds since the session started (video: position in the file).")
    outcome = models.CharField(max_length=16, choices=FrameOutcome.choices)
    faces = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    message = models.CharField(max_length=16, blank=True, default="", help_text="Nonce of the live frame's message.")

    class Meta:
        # By column, not by the foreign key: ordering "session" would join the session table.
        ordering = ["session_id", "sequence"]
        constraints = [models.UniqueConstraint(fields=["session", "sequence"], name="frame_unique_session_sequence")]

    def __str__(self) -> str:
        return f"frame {self.sequence} of {self.session_id}"


class Observation(CompanyOwned):
    """One analysed face in one frame."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    session = models.ForeignKey(EvaluationSession, on_delete=models.CASCADE, related_name="+")
    frame_sequence = models.PositiveBigIntegerField()
    captured_at = models.DateTimeField()
    offset_seconds = models.FloatField()
    face_index = models.PositiveSmallIntegerField(help_text="0 is the largest face of the frame.")
    is_primary = models.BooleanField(help_text="The face grading uses for this frame.")
    box_x = models.IntegerField()
    box_y = models.IntegerField()
    box_w = models.PositiveIntegerField()
    box_h = models.PositiveIntegerField()
    detection_score = models.FloatField()
    angry = models.FloatField()
    disgust = models.FloatField()
    fear = models.FloatField()
    happy = models.FloatField()
    sad = models.FloatField()
    surprise = models.FloatField()
    neutral = models.FloatField()
    dominant = models.CharField(max_length=16, choices=[(e, e) for e in EMOTIONS])
    quality_flags = models.JSONField(default=list, blank=True)
    model_version = models.CharField(max_length=100)

    class Meta:
        ordering = ["session_id", "frame_sequence", "face_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "frame_sequence", "face_index"], name="observation_unique_session_frame_face"
            )
        ]

    def __str__(self) -> str:
        return f"face {self.face_index} of frame {self.frame_sequence} ({self.dominant})"

    @property
    def box(self) -> list[int]:
        return [self.box_x, self.box_y, self.box_w, self.box_h]

    @property
    def probabilities(self) -> tuple[float, ...]:
        return tuple(getattr(self, e) for e in EMOTIONS)

    @property
    def emotions(self) -> dict[str, float]:
        return {e: getattr(self, e) for e in EMOTIONS}


def stored_frames_root() -> Path:
    """Where stored frames live: ``MEDIA_ROOT/stored-frames/<company>/<session>/<sequence>.<ext>``."""
    return Path(settings.MEDIA_ROOT) / "stored-frames"


class StoredFrame(CompanyOwned):
    """An analysed image the company chose to keep for its own review (``Company.store_frames``).

    ``(session, sequence)`` is also the key of the frame's ledger row and of its observations.
    The file's name (relative to ``MEDIA_ROOT``) is derived from server-side ids only
    (``evaluations.frames``); deleting a row goes with deleting its file (``evaluations.frames``).
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    session = models.ForeignKey(EvaluationSession, on_delete=models.CASCADE, related_name="+")
    sequence = models.PositiveBigIntegerField()
    captured_at = models.DateTimeField()
    content_type = models.CharField(max_length=32)
    size = models.PositiveIntegerField(help_text="Bytes.")
    file = models.FileField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session_id", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["session", "sequence"], name="stored_frame_unique_session_sequence")
        ]
        indexes = [models.Index(fields=["company", "captured_at"], name="stored_frame_company_captured")]

    def __str__(self) -> str:
        return f"stored frame {self.sequence} of {self.session_id}"

    @property
    def path(self) -> Path:
        return Path(settings.MEDIA_ROOT) / str(self.file.name)


class ConsentChannel(models.TextChoices):
    SIGNED_IN = "signed_in", _("Signed-in member (agent page)")
    API_TOKEN = "api_token", _("API token")
    SYSTEM = "system", _("System")


class ConsentReceipt(CompanyOwned):
    """Proof that the company's camera notice was shown before a live session's camera started.

    Stands alone: the notice's exact text and its SHA-256 are copied in, so the receipt says
    what the customer was shown even after the company changes its notice.
    """

    session = models.OneToOneField(EvaluationSession, on_delete=models.CASCADE, related_name="+")
    notice_version = models.PositiveIntegerField(help_text="The company's consent_notice_version at the time.")
    notice_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the notice text (UTF-8), hex.")
    notice_text = models.TextField()
    confirmed_at = models.DateTimeField()
    confirmed_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    confirmed_by = models.CharField(max_length=254, help_text="Who confirmed: an e-mail address or token:<prefix>.")
    channel = models.CharField(max_length=16, choices=ConsentChannel.choices)

    class Meta:
        ordering = ["-confirmed_at", "-id"]

    def __str__(self) -> str:
        return f"consent receipt of {self.session_id} (notice v{self.notice_version})"
