"""Shapes of the evaluations API. Validation only; state changes go through ``evaluations.actions``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import JsonBodySerializer, QuerySerializer
from evaluations.grading import EMOTIONS, INSUFFICIENT
from evaluations.models import (
    Channel,
    ConsentReceipt,
    EvaluationSession,
    GradeLetter,
    Observation,
    Status,
    StoredFrame,
    Trajectory,
)
from evaluations.selectors import consent_receipt, running_grade


class AgentSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField(allow_null=True, help_text="The agent's member id (see /members/).")
    email = serializers.EmailField(allow_null=True)


class StatsSerializer(serializers.Serializer[Any]):
    frames_received = serializers.IntegerField()
    frames_rejected = serializers.IntegerField(help_text="Invalid: size, type, duplicate number, session not open.")
    frames_dropped = serializers.IntegerField(help_text="Valid but shed on purpose: rate limit or workers behind.")
    frames_processed = serializers.IntegerField()
    frames_failed = serializers.IntegerField(help_text="Accepted but could not be analysed (e.g. corrupt JPEG).")
    faces_observed = serializers.IntegerField()


class VideoSerializer(serializers.Serializer[Any]):
    status = serializers.CharField(source="video_status")
    sample_fps = serializers.FloatField(source="video_sample_fps", allow_null=True)
    frames_done = serializers.IntegerField(source="video_frames_done")
    frames_total = serializers.IntegerField(source="video_frames_total")
    progress = serializers.FloatField(source="video_progress", allow_null=True)
    error = serializers.CharField(source="video_error")


class SessionSerializer(serializers.ModelSerializer[EvaluationSession]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    agent = serializers.SerializerMethodField()
    grade = serializers.CharField(
        source="grade_letter", help_text="A-F, insufficient_evidence, or empty before any frame."
    )
    rubric_version = serializers.IntegerField(source="rubric_version.version")
    trajectory = serializers.ChoiceField(
        choices=Trajectory.choices,
        allow_blank=True,
        read_only=True,
        help_text="How the score moved over a finished, graded session; empty otherwise.",
    )
    stats = serializers.SerializerMethodField()
    video = serializers.SerializerMethodField()

    class Meta:
        model = EvaluationSession
        fields: tuple[str, ...] = (
            "id",
            "agent",
            "customer_reference",
            "channel",
            "status",
            "started_at",
            "paused_at",
            "ended_at",
            "grade",
            "score",
            "confidence",
            "trajectory",
            "csat",
            "rubric_version",
            "stats",
            "video",
        )
        read_only_fields: tuple[str, ...] = fields

    @extend_schema_field(AgentSerializer)
    def get_agent(self, session: EvaluationSession) -> dict[str, Any]:
        return {
            "id": getattr(session, "agent_member_id", None),
            "email": session.agent.email if session.agent is not None else None,
        }

    @extend_schema_field(StatsSerializer)
    def get_stats(self, session: EvaluationSession) -> dict[str, Any]:
        return session.stats()

    @extend_schema_field(VideoSerializer(allow_null=True))
    def get_video(self, session: EvaluationSession) -> dict[str, Any] | None:
        return VideoSerializer(session).data if session.video_status else None


class TimelineBucketSerializer(serializers.Serializer[Any]):
    start_seconds = serializers.FloatField()
    end_seconds = serializers.FloatField()
    frames = serializers.IntegerField()
    score = serializers.FloatField()
    letter = serializers.CharField(allow_null=True)
    emotion_counts = serializers.DictField(child=serializers.IntegerField())


class GradeSerializer(serializers.Serializer[Any]):
    outcome = serializers.ChoiceField(choices=["graded", INSUFFICIENT])
    letter = serializers.CharField(allow_null=True)
    score = serializers.FloatField(allow_null=True)
    confidence = serializers.FloatField()
    frames = serializers.IntegerField()
    usable_frames = serializers.IntegerField()
    emotion_counts = serializers.DictField(child=serializers.IntegerField())
    emotion_shares = serializers.DictField(child=serializers.FloatField())
    group_counts = serializers.DictField(child=serializers.IntegerField())
    timeline = TimelineBucketSerializer(many=True)
    rubric_version = serializers.IntegerField()
    final = serializers.BooleanField(help_text="True once the session is finished and the grade frozen.")


class ConsentReceiptSerializer(serializers.ModelSerializer[ConsentReceipt]):
    class Meta:
        model = ConsentReceipt
        fields = ("notice_version", "notice_sha256", "notice_text", "confirmed_at", "confirmed_by", "channel")
        read_only_fields = fields
        extra_kwargs = {
            "confirmed_by": {"help_text": "Who confirmed the notice was shown: an e-mail address or token:<prefix>."},
            "channel": {"help_text": "How: signed_in (a member, the agent page), api_token or system."},
        }


class SessionDetailSerializer(SessionSerializer):
    grade_detail = serializers.SerializerMethodField()
    consent_receipt = serializers.SerializerMethodField()

    class Meta(SessionSerializer.Meta):
        fields = (*SessionSerializer.Meta.fields, "grade_detail", "consent_receipt")
        read_only_fields = fields

    @extend_schema_field(ConsentReceiptSerializer(allow_null=True))
    def get_consent_receipt(self, session: EvaluationSession) -> dict[str, Any] | None:
        """Live sessions: which camera notice was shown, confirmed by whom (null for uploads)."""
        receipt = consent_receipt(session)
        return dict(ConsentReceiptSerializer(receipt).data) if receipt is not None else None

    @extend_schema_field(GradeSerializer)
    def get_grade_detail(self, session: EvaluationSession) -> dict[str, Any]:
        if session.final_grade:
            keys = GradeSerializer().fields.keys()
            return {**{k: v for k, v in session.final_grade.items() if k in keys}, "final": True}
        grade = running_grade(session).to_json()
        return {**grade, "rubric_version": session.rubric_version.version, "final": False}


class SessionCreateSerializer(JsonBodySerializer):
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.LIVE)
    customer_reference = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    agent = serializers.UUIDField(
        required=False,
        help_text="Member id of the agent. Defaults to yourself; required with an API token; "
        "only admins and owners may name someone else.",
    )
    notice_shown = serializers.BooleanField(
        default=False,
        help_text="The company's camera notice was shown to the customer before the camera started. "
        "Required (true) for a live session, which then gets a consent receipt; the agent page sets it.",
    )
    notice_version = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="The version of the camera notice that was shown (consent_notice_version of /company/). "
        "If the notice changed since, the session is refused with 409 notice_changed.",
    )


class SessionFilterSerializer(QuerySerializer):
    agent = serializers.UUIDField(required=False, help_text="Member id of the agent.")
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    grade = serializers.ChoiceField(choices=GradeLetter.choices, required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    customer_reference = serializers.CharField(
        max_length=200, required=False, help_text="Sessions with exactly this customer reference (case-insensitive)."
    )
    started_after = serializers.DateTimeField(required=False, help_text="ISO date or date-time, inclusive.")
    started_before = serializers.DateTimeField(
        required=False, help_text="ISO date or date-time, exclusive; later than started_after (400 otherwise)."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        after, before = attrs.get("started_after"), attrs.get("started_before")
        if after and before and after >= before:
            raise serializers.ValidationError({"started_before": "Must be later than started_after."})
        return attrs


class ObservationSerializer(serializers.ModelSerializer[Observation]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    box = serializers.ListField(child=serializers.IntegerField(), help_text="[x, y, width, height] in pixels.")
    emotions = serializers.DictField(child=serializers.FloatField(), help_text="FER2013 emotion -> probability.")

    class Meta:
        model = Observation
        fields = (
            "id",
            "frame_sequence",
            "captured_at",
            "offset_seconds",
            "face_index",
            "is_primary",
            "box",
            "detection_score",
            "emotions",
            "dominant",
            "quality_flags",
            "model_version",
        )
        read_only_fields = fields


class StoredFrameSerializer(serializers.ModelSerializer[StoredFrame]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    url = serializers.SerializerMethodField(help_text="Where to fetch the image (same authentication).")

    class Meta:
        model = StoredFrame
        fields = ("id", "sequence", "captured_at", "content_type", "size", "url")
        read_only_fields = fields
        extra_kwargs = {"sequence": {"help_text": "The frame's number: its observations' frame_sequence."}}

    def get_url(self, frame: StoredFrame) -> str:
        session_id = self.context["session_public_id"]
        return reverse("session-frame", kwargs={"id": session_id, "frame_id": frame.public_id})


class ImagesUploadSerializer(serializers.Serializer[Any]):
    images = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        allow_empty=False,
        min_length=1,
        max_length=settings.EVALUATIONS_MAX_IMAGES_PER_UPLOAD,
        help_text="One or more JPEG, PNG or WebP images (multipart, repeat the field).",
    )

    def validate_images(self, value: list[Any]) -> list[Any]:
        limit = settings.EVALUATIONS_MAX_IMAGES_PER_UPLOAD
        if len(value) > limit:
            raise serializers.ValidationError(f"At most {limit} images per request; got {len(value)}.")
        return value


class ImagesQueuedSerializer(serializers.Serializer[Any]):
    sequences = serializers.ListField(child=serializers.IntegerField(), help_text="Frame numbers, in upload order.")
    session = SessionSerializer()


class VideoUploadSerializer(serializers.Serializer[Any]):
    video = serializers.FileField(allow_empty_file=True, help_text="An MP4 or WebM file.")
    sample_fps = serializers.FloatField(
        required=False, min_value=0.1, max_value=30.0, help_text="Frames analysed per second of video."
    )


class AnalyseSerializer(serializers.Serializer[Any]):
    image = serializers.FileField(allow_empty_file=True, help_text="A JPEG, PNG or WebP image.")
    faces = serializers.ChoiceField(choices=["all", "primary"], default="all")


class FaceSerializer(serializers.Serializer[Any]):
    box = serializers.ListField(child=serializers.IntegerField(), help_text="[x, y, width, height] in pixels.")
    score = serializers.FloatField(help_text="Detection confidence.")
    emotions = serializers.DictField(child=serializers.FloatField())
    dominant = serializers.ChoiceField(choices=list(EMOTIONS))
    quality = serializers.ListField(child=serializers.CharField(), help_text="Quality flags; empty when fine.")
    model_version = serializers.CharField()


class AnalysisSerializer(serializers.Serializer[Any]):
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    model_version = serializers.CharField()
    faces = FaceSerializer(many=True)


class CsatSerializer(JsonBodySerializer):
    csat = serializers.IntegerField(
        min_value=1,
        max_value=5,
        allow_null=True,
        help_text="The customer's own satisfaction answer, 1 (very unsatisfied) to 5 (very satisfied); null clears it.",
    )


class PeriodQuerySerializer(QuerySerializer):
    period = serializers.ChoiceField(
        choices=["7", "30", "90", "custom"], default="30", help_text="Last 7, 30 or 90 days, or custom."
    )
    first = serializers.DateField(
        required=False,
        help_text="First day of a custom period (company time zone). A custom period needs first and last, "
        "last not before first, at most a year apart (400 otherwise); the others ignore them.",
    )
    last = serializers.DateField(required=False, help_text="Last day of a custom period, included.")


class KpiSerializer(serializers.Serializer[Any]):
    sessions = serializers.IntegerField()
    graded = serializers.IntegerField()
    average_score = serializers.FloatField(allow_null=True)
    grades = serializers.DictField(child=serializers.IntegerField(), help_text="Letter -> finished sessions.")
    insufficient = serializers.IntegerField()
    insufficient_share = serializers.FloatField(allow_null=True)
    df_share = serializers.FloatField(allow_null=True)


class TrendPointSerializer(serializers.Serializer[Any]):
    day = serializers.DateField(help_text="The day, or the Monday of the week.")
    sessions = serializers.IntegerField()
    average_score = serializers.FloatField(allow_null=True)
    grades = serializers.DictField(child=serializers.IntegerField())
    insufficient = serializers.IntegerField()


class CalibrationSerializer(serializers.Serializer[Any]):
    answers = serializers.IntegerField(help_text="Graded finished sessions with a CSAT answer.")
    spearman = serializers.FloatField(allow_null=True, help_text="Null below 20 answers.")
    agreement = serializers.FloatField(allow_null=True, help_text="Share whose letter band matches the CSAT band.")


class SummarySerializer(serializers.Serializer[Any]):
    first = serializers.DateField()
    last = serializers.DateField()
    time_zone = serializers.CharField()
    bucket = serializers.ChoiceField(choices=["day", "week"])
    kpis = KpiSerializer()
    previous = KpiSerializer(help_text="The same number of days just before.")
    trend = TrendPointSerializer(many=True)
    calibration = CalibrationSerializer()


class AgentSummarySerializer(serializers.Serializer[Any]):
    member_id = serializers.UUIDField(allow_null=True, help_text="Null for an agent who left the company.")
    email = serializers.EmailField()
    sessions = serializers.IntegerField()
    graded = serializers.IntegerField()
    average_score = serializers.FloatField(allow_null=True)
    trend = serializers.FloatField(allow_null=True, help_text="Second half's average score minus the first half's.")
    grades = serializers.DictField(child=serializers.IntegerField())
    insufficient = serializers.IntegerField()
    trajectories = serializers.DictField(child=serializers.IntegerField())
    coaching_needed = serializers.BooleanField()


class CustomerErasureSerializer(JsonBodySerializer):
    customer_reference = serializers.CharField(
        max_length=200, help_text="The reference to erase, matched case-insensitively as in the session list filter."
    )


class ErasureSerializer(serializers.Serializer[Any]):
    sessions_deleted = serializers.IntegerField()
    audit_events_redacted = serializers.IntegerField(help_text="Audit entries whose details named the reference.")
