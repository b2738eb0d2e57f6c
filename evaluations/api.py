"""The evaluations REST API: sessions, their observations, uploads, and one-shot analysis.

Who sees what: agents see and run their own sessions; admins and owners see and run every
session of the company; API tokens see all sessions, and read-write tokens run them.
"""

from __future__ import annotations

import tempfile
import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Company, Membership, Role, User
from accounts.pagination import PageNumberPagination
from accounts.serializers import ErrorSerializer
from accounts.tenancy import CompanyScopedViewSet, HasTenantRole, Tenant, tenant_for_request
from accounts.throttling import ANALYSE_THROTTLES
from evaluations import actions, analysis, analytics, privacy
from evaluations.frames import frame_response
from evaluations.models import EvaluationSession, Observation
from evaluations.selectors import SessionFilter, stored_frames, visible_sessions
from evaluations.serializers import (
    AgentSummarySerializer,
    AnalyseSerializer,
    AnalysisSerializer,
    CsatSerializer,
    CustomerErasureSerializer,
    ErasureSerializer,
    ImagesQueuedSerializer,
    ImagesUploadSerializer,
    ObservationSerializer,
    PeriodQuerySerializer,
    SessionCreateSerializer,
    SessionDetailSerializer,
    SessionFilterSerializer,
    SessionSerializer,
    StoredFrameSerializer,
    SummarySerializer,
    VideoUploadSerializer,
)
from evaluations.uploads import check_image_size, image_error, queue_images, queue_video, read_upload

# Beyond the errors every operation documents (accounts.schema): a session not in the state the
# operation needs (not_open, not_paused, not_finished, cancelled, finished, channel, video_exists, active).
CONFLICT = {409: ErrorSerializer}


class SessionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, CompanyScopedViewSet[EvaluationSession]
):
    """Evaluation sessions of the company (agents: their own)."""

    model = EvaluationSession
    minimum_role: ClassVar[dict[str, Role]] = {"GET": Role.AGENT, "POST": Role.AGENT, "DELETE": Role.ADMIN}
    serializer_class = SessionSerializer

    def base_queryset(self, company: Company) -> QuerySet[EvaluationSession]:
        tenant = self.tenant
        # The agent's member id, for linking to /members/; one subquery instead of a query per row.
        member_id = Membership.objects.for_company(company).filter(user=OuterRef("agent")).values("public_id")[:1]
        return (
            visible_sessions(company, tenant.role, tenant.user)
            .select_related("agent", "rubric_version", "company")
            .annotate(agent_member_id=Subquery(member_id))
        )

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        if self.action == "list":
            return SessionSerializer
        return SessionDetailSerializer

    @property
    def filter_parameters(self) -> tuple[str, ...]:
        """The query parameters the list reads besides ``page`` (accounts.pagination refuses others)."""
        return tuple(SessionFilterSerializer().fields) if self.action == "list" else ()

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.action != "list":
            return queryset
        filters = SessionFilterSerializer(data=self.request.query_params, context={"also_allowed": {"page"}})
        filters.is_valid(raise_exception=True)
        return SessionFilter(**filters.validated_data).apply(queryset, self.tenant.company)

    @extend_schema(parameters=[SessionFilterSerializer], responses=SessionSerializer(many=True))
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=SessionCreateSerializer, responses={201: SessionDetailSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Create and start a session (it is open at once)."""
        serializer = SessionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tenant = self.tenant
        agent = self._agent(data.get("agent"))
        session = actions.start_session(
            actor=tenant.actor,
            company=tenant.company,
            agent=agent,
            channel=data["channel"],
            customer_reference=data["customer_reference"],
            notice_shown=data["notice_shown"],
            notice_version=data.get("notice_version"),
        )
        return Response(self._detail(session), status=status.HTTP_201_CREATED)

    def _agent(self, member_id: Any) -> User:
        tenant = self.tenant
        if member_id is None:
            if tenant.user is None:
                raise serializers.ValidationError({"agent": ["Name the agent (member id) when using an API token."]})
            return tenant.user
        membership = (
            Membership.objects.for_company(tenant.company).select_related("user").filter(public_id=member_id).first()
        )
        if membership is None:
            raise serializers.ValidationError({"agent": ["No member with this id in your company."]})
        return membership.user

    def _detail(self, session: EvaluationSession) -> dict[str, Any]:
        # Re-read through the scoped queryset so the response has the same annotations as GET.
        fresh = self.get_queryset().get(pk=session.pk)
        return dict(SessionDetailSerializer(fresh).data)

    def _transition(self, change: Any) -> Response:
        session = self.get_object()
        updated = change(actor=self.tenant.actor, session=session)
        return Response(self._detail(updated))

    @extend_schema(request=None, responses={204: None, **CONFLICT})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Delete a finished or cancelled session with everything recorded about it (admins, owners, read-write tokens).

        Its observations, frame ledger, a video still waiting and its notification events go; the
        audit log keeps that it was deleted (docs/privacy.md). A running session: 409.
        """
        privacy.delete_session(actor=self.tenant.actor, session=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: SessionDetailSerializer, **CONFLICT})
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, id: str | None = None) -> Response:
        """Stop recording; frames sent while paused are refused. Pausing twice is a no-op."""
        return self._transition(actions.pause_session)

    @extend_schema(request=None, responses={200: SessionDetailSerializer, **CONFLICT})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, id: str | None = None) -> Response:
        """Start recording again."""
        return self._transition(actions.resume_session)

    @extend_schema(request=None, responses={200: SessionDetailSerializer, **CONFLICT})
    @action(detail=True, methods=["post"])
    def finish(self, request: Request, id: str | None = None) -> Response:
        """Close the session and freeze its grade. Finishing twice is a no-op."""
        return self._transition(actions.finish_session)

    @extend_schema(request=None, responses={200: SessionDetailSerializer, **CONFLICT})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, id: str | None = None) -> Response:
        """Abandon the session without a grade."""
        return self._transition(actions.cancel_session)

    @extend_schema(request=CsatSerializer, responses={200: SessionDetailSerializer, **CONFLICT})
    @action(detail=True, methods=["post"])
    def csat(self, request: Request, id: str | None = None) -> Response:
        """Record the customer's own satisfaction answer (CSAT 1-5) for a finished session; null clears it.

        Our score is calibrated against these answers on the dashboard (Spearman correlation).
        """
        serializer = CsatSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = self.get_object()
        updated = actions.record_csat(actor=self.tenant.actor, session=session, csat=serializer.validated_data["csat"])
        return Response(self._detail(updated))

    @extend_schema(
        responses=ObservationSerializer(many=True),
        parameters=[OpenApiParameter("page", int, description="Page number (50 per page).")],
    )
    @action(detail=True, methods=["get"])
    def observations(self, request: Request, id: str | None = None) -> Response:
        """Every analysed face of the session, in frame order (paginated)."""
        session = self.get_object()
        queryset = (
            Observation.objects.for_company(self.tenant.company)
            .filter(session=session)
            .order_by("frame_sequence", "face_index")
        )
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        assert page is not None  # PageNumberPagination always pages
        return paginator.get_paginated_response(ObservationSerializer(page, many=True).data)

    @extend_schema(
        responses=StoredFrameSerializer(many=True),
        parameters=[OpenApiParameter("page", int, description="Page number (50 per page).")],
    )
    @action(detail=True, methods=["get"])
    def frames(self, request: Request, id: str | None = None) -> Response:
        """The frames kept of the session, in frame order (paginated): only when the company stores frames.

        Each is kept for the company's ``frame_retention_days``; ``url`` fetches the image.
        """
        session = self.get_object()
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(stored_frames(session), request, view=self)
        assert page is not None  # PageNumberPagination always pages
        context = {"session_public_id": session.public_id}
        return paginator.get_paginated_response(StoredFrameSerializer(page, many=True, context=context).data)

    @extend_schema(
        operation_id="sessions_frame_image",
        responses={
            (200, "image/jpeg"): OpenApiTypes.BINARY,
            (200, "image/png"): OpenApiTypes.BINARY,
            (200, "image/webp"): OpenApiTypes.BINARY,
            404: ErrorSerializer,
        },
    )
    @action(detail=True, methods=["get"], url_path=r"frames/(?P<frame_id>[0-9a-fA-F-]{36})", url_name="frame")
    def frame(self, request: Request, id: str | None = None, frame_id: str | None = None) -> FileResponse:
        """One stored frame's image (JPEG, PNG or WebP, as analysed)."""
        session = self.get_object()
        try:
            wanted = uuid.UUID(str(frame_id))
        except ValueError:
            raise NotFound() from None
        frame = stored_frames(session).filter(public_id=wanted).first()
        if frame is None:
            raise NotFound()
        return frame_response(frame)

    @extend_schema(
        request={"multipart/form-data": ImagesUploadSerializer}, responses={202: ImagesQueuedSerializer, **CONFLICT}
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, FormParser])
    def images(self, request: Request, id: str | None = None) -> Response:
        """Add one or many images to an image or API session; each is analysed like a live frame.

        Every image is decoded before anything is queued: one bad image refuses the whole request.
        """
        session = self.get_object()
        serializer = ImagesUploadSerializer(data={"images": request.FILES.getlist("images")})
        serializer.is_valid(raise_exception=True)
        sequences = queue_images(actor=self.tenant.actor, session=session, files=serializer.validated_data["images"])
        fresh = self.get_queryset().get(pk=session.pk)
        body = {"sequences": sequences, "session": SessionSerializer(fresh).data}
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request={"multipart/form-data": VideoUploadSerializer}, responses={202: SessionDetailSerializer, **CONFLICT}
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, FormParser])
    def video(self, request: Request, id: str | None = None) -> Response:
        """Upload the video of a video session; it is analysed in the background, then the session finishes.

        Progress: ``video`` in the session detail, and ``video.progress`` messages on the websocket.
        """
        session = self.get_object()
        serializer = VideoUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload: UploadedFile = serializer.validated_data["video"]
        sample_fps = serializer.validated_data.get("sample_fps", settings.EVALUATIONS_VIDEO_SAMPLE_FPS)
        updated = queue_video(actor=self.tenant.actor, session=session, upload=upload, sample_fps=sample_fps)
        return Response(self._detail(updated), status=status.HTTP_202_ACCEPTED)


class AnalyseView(APIView):
    """Analyse one image and return its faces and emotions. Nothing is stored.

    Runs in the request: the caller waits for the answer anyway, and one image takes about as
    long as a broker round trip (the model is loaded once per web process, on first use).
    """

    permission_classes = [HasTenantRole]
    # Inference runs in this process: stricter limits per caller and per company (accounts.throttling).
    throttle_classes = ANALYSE_THROTTLES
    minimum_role: ClassVar[dict[str, Role]] = {"POST": Role.AGENT}
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = AnalyseSerializer

    @extend_schema(
        request={"multipart/form-data": AnalyseSerializer},
        responses={
            200: AnalysisSerializer,
            503: OpenApiResponse(
                ErrorSerializer, description="The emotion model is not available (model_unavailable)."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        import inference

        assert tenant_for_request(request) is not None  # HasTenantRole guarantees it
        serializer = AnalyseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload: UploadedFile = serializer.validated_data["image"]
        data = read_upload(upload)
        name = upload.name or "image"
        check_image_size(data, name, settings.EVALUATIONS_MAX_IMAGE_BYTES)
        try:
            result = analysis.analyse_image(data, analysis.Use.UPLOAD, faces=serializer.validated_data["faces"])
        except inference.ModelUnavailable:
            return Response(
                {"detail": "The emotion model is not available; try again later.", "code": "model_unavailable"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        except inference.InferenceError as exc:
            raise image_error(exc, name) from None
        return Response(AnalysisSerializer(result.to_json()).data)


def _period(request: Request, company: Company) -> analytics.Period:
    query = PeriodQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    data = query.validated_data
    try:
        return analytics.period_for(company, data["period"], data.get("first"), data.get("last"))
    except analytics.PeriodError as error:
        raise serializers.ValidationError({"period": [str(error)]}) from None


def _kpis(kpis: analytics.Kpis) -> dict[str, Any]:
    return {
        "sessions": kpis.sessions,
        "graded": kpis.graded,
        "average_score": kpis.average_score,
        "grades": kpis.grades,
        "insufficient": kpis.insufficient,
        "insufficient_share": kpis.insufficient_share,
        "df_share": kpis.df_share,
    }


class ResultsSummaryView(APIView):
    """A period's results: KPIs, the previous period's, the trend and CSAT calibration.

    Admins, owners and API tokens get the company's; agents get their own.
    """

    permission_classes = [HasTenantRole]
    minimum_role: ClassVar[dict[str, Role]] = {"GET": Role.AGENT}

    @extend_schema(parameters=[PeriodQuerySerializer], responses={200: SummarySerializer})
    def get(self, request: Request) -> Response:
        tenant = tenant_for_request(request)
        assert tenant is not None  # HasTenantRole guarantees it
        own = tenant.token is None and not tenant.role.at_least(Role.ADMIN)
        agent = tenant.user if own else None
        period = _period(request, tenant.company)
        finished = analytics.finished_in(tenant.company, period, agent)
        change = analytics.kpi_change(tenant.company, period, agent)
        calibration = analytics.calibration(finished)
        body = {
            "first": period.first,
            "last": period.last,
            "time_zone": period.tz.key,
            "bucket": period.bucket,
            "kpis": _kpis(change.current),
            "previous": _kpis(change.previous),
            "trend": [vars(point) for point in analytics.trend(finished, period)],
            "calibration": {
                "answers": calibration.answers,
                "spearman": calibration.spearman,
                "agreement": calibration.agreement,
            },
        }
        return Response(SummarySerializer(body).data)


class AgentResultsView(APIView):
    """Per-agent results of a period (admins, owners and API tokens), with the coaching flag.

    A 404 when the company hides per-agent views, as if the endpoint did not exist.
    """

    permission_classes = [HasTenantRole]
    minimum_role: ClassVar[dict[str, Role]] = {"GET": Role.AGENT}

    @extend_schema(
        parameters=[PeriodQuerySerializer],
        responses={
            200: AgentSummarySerializer(many=True),
            404: OpenApiResponse(ErrorSerializer, description="The company hides per-agent views (not_found)."),
        },
    )
    def get(self, request: Request) -> Response:
        tenant = tenant_for_request(request)
        assert tenant is not None  # HasTenantRole guarantees it
        if tenant.company.agent_views_hidden:
            raise NotFound()
        if tenant.token is None and not tenant.role.at_least(Role.ADMIN):
            raise PermissionDenied("Per-agent results are for admins and owners.")
        period = _period(request, tenant.company)
        summaries = analytics.agent_summaries(tenant.company, period)
        coaching = {s.agent_id for s in analytics.coaching_needed(summaries)}
        rows = [
            {
                "member_id": s.member_id,
                "email": s.email,
                "sessions": s.sessions,
                "graded": s.graded,
                "average_score": s.average_score,
                "trend": s.trend,
                "grades": s.grades,
                "insufficient": s.insufficient,
                "trajectories": s.trajectories,
                "coaching_needed": s.agent_id in coaching,
            }
            for s in summaries
        ]
        return Response(AgentSummarySerializer(rows, many=True).data)


class CustomerErasureView(APIView):
    """Erase one customer: every session with this reference, and the reference from the audit log.

    Admins, owners and read-write tokens. The audit log keeps what happened to the sessions and
    records the erasure by its counts and session ids, never by the reference (docs/privacy.md).
    404 when no session and no audit entry of the company has this reference; 409 while one of
    the customer's sessions is still running.
    """

    permission_classes = [HasTenantRole]
    minimum_role: ClassVar[dict[str, Role]] = {"POST": Role.ADMIN}
    serializer_class = CustomerErasureSerializer

    @extend_schema(
        request=CustomerErasureSerializer,
        responses={
            200: ErasureSerializer,
            404: OpenApiResponse(ErrorSerializer, description="No session or audit entry has this reference."),
            **CONFLICT,
        },
    )
    def post(self, request: Request) -> Response:
        tenant = tenant_for_request(request)
        assert tenant is not None  # HasTenantRole guarantees it
        serializer = CustomerErasureSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        erasure = privacy.erase_customer(
            actor=tenant.actor,
            company=tenant.company,
            customer_reference=serializer.validated_data["customer_reference"],
        )
        body = {"sessions_deleted": erasure.sessions, "audit_events_redacted": erasure.audit_events_redacted}
        return Response(ErasureSerializer(body).data)


class CompanyExportView(APIView):
    """Download the company's data: a zip of JSON and CSV files (owners, signed in; audited).

    Sessions with their grades, observations, the frame ledger, members and the audit log;
    ``manifest.json`` in the zip describes each file (docs/privacy.md).
    """

    permission_classes = [HasTenantRole]
    minimum_role: ClassVar[dict[str, Role]] = {"POST": Role.OWNER}
    allow_api_tokens = False

    @extend_schema(request=None, responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def post(self, request: Request) -> FileResponse:
        tenant = tenant_for_request(request)
        assert tenant is not None  # HasTenantRole guarantees it
        return export_response(tenant)


def export_response(tenant: Tenant) -> FileResponse:
    """Run the audited export into a temporary file and answer with it (API and portal)."""
    # On disk, not in memory: a big company's export is large. FileResponse closes it once sent.
    out = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        privacy.export_company_data(actor=tenant.actor, company=tenant.company, out=out)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = FileResponse(
        out, as_attachment=True, filename=f"moodsaas-{tenant.company.slug}-{stamp}.zip", content_type="application/zip"
    )
    response["Cache-Control"] = "no-store"
    return response
