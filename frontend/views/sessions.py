"""Session pages: the history (filters, sorting, pages, CSV of exactly the filtered list) and one
session's evidence, with finish/cancel and the customer's CSAT answer."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import F, QuerySet
from django.db.models.fields.json import KT
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.exceptions import ActionError
from accounts.models import Membership, Role
from accounts.tenancy import Tenant
from evaluations import actions, analytics, grading
from evaluations.frames import frame_response
from evaluations.models import Channel, EvaluationSession, GradeLetter, Status
from evaluations.selectors import (
    SessionFilter,
    consent_receipt,
    model_versions,
    primary_emotions,
    running_grade,
    stored_frames,
    visible_sessions,
)
from evaluations.uploads import queue_images, queue_video
from frontend import charts
from frontend.portal import EMOTION_LABELS, portal_page, query_without

PAGE_SIZE = 25
FRAMES_PAGE_SIZE = 24
SORTS = {
    "started": "started_at",
    "score": "score",
    "grade": "grade_letter",
    "agent": "agent__email",
    "frames": "frames_processed",
}


class HistoryFilterForm(forms.Form):
    agent = forms.ChoiceField(label=gettext_lazy("Agent"), required=False)
    first = forms.DateField(label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    last = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    grade = forms.ChoiceField(
        label=gettext_lazy("Grade"), required=False, choices=[("", gettext_lazy("Any")), *GradeLetter.choices]
    )
    status = forms.ChoiceField(
        label=gettext_lazy("Status"), required=False, choices=[("", gettext_lazy("Any")), *Status.choices]
    )
    channel = forms.ChoiceField(
        label=gettext_lazy("Channel"), required=False, choices=[("", gettext_lazy("Any")), *Channel.choices]
    )
    customer_reference = forms.CharField(label=gettext_lazy("Customer reference"), required=False, max_length=200)
    sort = forms.ChoiceField(required=False, choices=[(k, k) for k in SORTS] + [(f"-{k}", k) for k in SORTS])

    def __init__(self, data: Any, tenant: Tenant, show_agents: bool) -> None:
        super().__init__(data)
        if show_agents:
            members = Membership.objects.for_company(tenant.company).select_related("user").order_by("user__email")
            choices = [("", _("Any"))] + [(str(m.public_id), m.user.email) for m in members]
            self.fields["agent"].choices = choices  # type: ignore[attr-defined]
        else:
            del self.fields["agent"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, last = data.get("first"), data.get("last")
        if first and last and last < first:
            self.add_error("last", _("The last day comes before the first."))
        return data


def _history(request: HttpRequest, tenant: Tenant) -> tuple[QuerySet[EvaluationSession], HistoryFilterForm, bool, str]:
    """The filtered, sorted sessions the caller may see, with the bound form."""
    show_agents = tenant.role.at_least(Role.ADMIN) and not tenant.company.agent_views_hidden
    form = HistoryFilterForm(request.GET or None, tenant, show_agents)
    sessions = visible_sessions(tenant.company, tenant.role, tenant.user).select_related("agent")
    sort = "-started"
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        zone = analytics.company_zone(tenant.company)
        criteria = SessionFilter(
            agent=uuid.UUID(data["agent"]) if data.get("agent") else None,
            status=data["status"] or None,
            grade=data["grade"] or None,
            channel=data["channel"] or None,
            customer_reference=data["customer_reference"] or None,
            started_after=datetime.combine(data["first"], time.min, tzinfo=zone) if data["first"] else None,
            started_before=(
                datetime.combine(data["last"] + timedelta(days=1), time.min, tzinfo=zone) if data["last"] else None
            ),
        )
        sessions = criteria.apply(sessions, tenant.company)
        sort = data["sort"] or sort
    elif form.is_bound:
        sessions = sessions.none()
    field = SORTS[sort.lstrip("-")]
    ordering = F(field).desc(nulls_last=True) if sort.startswith("-") else F(field).asc(nulls_last=True)
    return sessions.order_by(ordering, "-started_at", "-id"), form, show_agents, sort


@require_GET
@portal_page()
def session_list(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    sessions, form, show_agents, sort = _history(request, tenant)
    page = Paginator(sessions, PAGE_SIZE).get_page(request.GET.get("page"))
    # Clicking a column sorts by it, best or latest first; clicking the sorted column reverses it.
    sort_links = {key: key if sort == f"-{key}" else f"-{key}" for key in SORTS}
    return render(
        request,
        "frontend/portal/session_list.html",
        {
            "page": page,
            "form": form,
            "show_agents": show_agents,
            "sort": sort,
            "sort_links": sort_links,
            "page_query": query_without(request, "page"),
            "sort_query": query_without(request, "page", "sort"),
            "export_query": query_without(request, "page"),
            "zone": analytics.company_zone(tenant.company),
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


CSV_COLUMNS = (
    "session_id", "started_at", "ended_at", "agent", "channel", "status", "customer_reference", "grade", "score",
    "confidence", "trajectory", "csat", "frames_received", "frames_processed", "frames_dropped", "frames_rejected",
    "frames_failed", "rubric_version", "model_version",
)  # fmt: skip


def csv_rows(sessions: QuerySet[EvaluationSession], show_agents: bool) -> Iterator[list[Any]]:
    """The CSV of a session list: a header, then one row per session (times in ISO 8601 UTC)."""
    yield list(CSV_COLUMNS)
    rows = (
        sessions.select_related("rubric_version")
        # Decoding every session's JSON grades (and its rubric's rules) was most of a 20,000-row
        # export (docs/benchmarks.md, "Portal at scale"): the CSV needs one key, which the database
        # extracts.
        .defer("grade_state", "final_grade", "rubric_version__rules")
        .annotate(frozen_model_version=KT("final_grade__model_version"))
    )
    for session in rows.iterator(chunk_size=500):
        yield [
            session.public_id,
            session.started_at.isoformat(),
            session.ended_at.isoformat() if session.ended_at else "",
            (session.agent.email if session.agent else "") if show_agents else "",
            session.channel,
            session.status,
            session.customer_reference,
            session.grade_letter,
            "" if session.score is None else round(session.score, 2),
            "" if session.confidence is None else session.confidence,
            session.trajectory,
            session.csat or "",
            session.frames_received,
            session.frames_processed,
            session.frames_dropped,
            session.frames_rejected,
            session.frames_failed,
            session.rubric_version.version,
            session.frozen_model_version or "",
        ]


@require_GET
@portal_page()
def session_export(request: HttpRequest, tenant: Tenant) -> StreamingHttpResponse:
    """CSV of exactly the filtered list the history page shows (every page of it)."""
    sessions, _form, show_agents, _sort = _history(request, tenant)
    writer = csv.writer(_Echo())
    stamp = timezone.localtime(timezone.now(), analytics.company_zone(tenant.company)).strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in csv_rows(sessions, show_agents)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="sessions-{tenant.company.slug}-{stamp}.csv"'
    return response


def _session_or_404(tenant: Tenant, session_id: uuid.UUID) -> EvaluationSession:
    session = (
        visible_sessions(tenant.company, tenant.role, tenant.user)
        .select_related("agent", "rubric_version", "company")
        .filter(public_id=session_id)
        .first()
    )
    if session is None:
        raise Http404(_("No such session in your company."))
    return session


def session_evidence(session: EvaluationSession) -> dict[str, Any]:
    """The grade and its evidence (no image): the frozen grade of a finished session, else the running one."""
    grade = session.final_grade if session.final_grade else running_grade(session).to_json()
    moved = grade.get("trajectory") if session.final_grade else None
    if moved is None and not session.final_grade:
        running = grading.trajectory(grade["timeline"])
        moved = (
            {"kind": running.kind, "start_score": running.start_score, "end_score": running.end_score}
            if running
            else None
        )
    emotion_labels = {e: str(EMOTION_LABELS[e]) for e in grading.EMOTIONS}
    shares = {
        e: grade["emotion_shares"].get(e, 0.0)
        for e in sorted(grading.EMOTIONS, key=lambda e: -grade["emotion_shares"].get(e, 0.0))
    }
    return {
        "grade": grade,
        "trajectory": moved,
        "timeline_chart": charts.timeline(
            grade["timeline"],
            title=_("Satisfaction score over the session"),
            description=_(
                "Average score of each interval from 0 to 100, with the dominant emotion of each interval below."
            ),
            labels=emotion_labels,
        ),
        "shares_chart": charts.horizontal_bars(
            shares,
            emotion_labels,
            title=_("Share of usable frames by dominant emotion"),
            description=", ".join(f"{emotion_labels[e]} {v * 100:.0f}%" for e, v in shares.items()),
        ),
        "shares": shares,
        "emotion_legend": [(e, emotion_labels[e]) for e in shares],
        "votes": [(letter, grade["group_counts"].get(letter, 0)) for letter in grading.LETTERS],
        "model_version": (session.final_grade or {}).get("model_version") or model_versions(session),
    }


@require_GET
@portal_page()
def session_detail(request: HttpRequest, tenant: Tenant, session_id: uuid.UUID) -> HttpResponse:
    session = _session_or_404(tenant, session_id)
    can_run = tenant.role.at_least(Role.ADMIN) or (tenant.user is not None and tenant.user.pk == session.agent_id)
    context = {
        "session": session,
        "can_run": can_run,
        "can_upload": can_run
        and session.is_open
        and session.channel in (Channel.IMAGES, Channel.VIDEO)
        and not session.video_status,
        "session_socket": f"/ws/sessions/{session.public_id}/",
        "zone": analytics.company_zone(tenant.company),
        "show_agent": tenant.role.at_least(Role.ADMIN) and not tenant.company.agent_views_hidden,
        "csat_choices": range(1, 6),
        "receipt": consent_receipt(session),
        **_stored_frames_page(session, request.GET.get("frames")),
        **session_evidence(session),
    }
    return render(request, "frontend/portal/session_detail.html", context)


def _stored_frames_page(session: EvaluationSession, number: str | None) -> dict[str, Any]:
    """One page of the session's stored frames, each with its primary face's dominant emotion.

    Three queries whatever the number of frames: the count, the page, the page's primary faces.
    """
    page = Paginator(stored_frames(session), FRAMES_PAGE_SIZE).get_page(number)
    sequences = [frame.sequence for frame in page.object_list]
    dominant = primary_emotions(session, sequences)
    return {
        "frames_page": page,
        "stored": [(frame, EMOTION_LABELS.get(dominant.get(frame.sequence, ""))) for frame in page.object_list],
    }


@require_GET
@portal_page()
def session_frame(request: HttpRequest, tenant: Tenant, session_id: uuid.UUID, frame_id: uuid.UUID) -> FileResponse:
    """A stored frame's image, for whoever may see its session (another company's, or a colleague's for an agent: 404)."""
    session = _session_or_404(tenant, session_id)
    frame = stored_frames(session).filter(public_id=frame_id).first()
    if frame is None:
        raise Http404(_("No such frame in this session."))
    return frame_response(frame)


def _transition(request: HttpRequest, tenant: Tenant, session_id: uuid.UUID, change: Any, done: str) -> HttpResponse:
    session = _session_or_404(tenant, session_id)
    try:
        change(actor=tenant.actor, session=session)
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    return redirect("portal-session", session_id=session.public_id)


@require_POST
@portal_page()
def session_finish(request: HttpRequest, tenant: Tenant, session_id: uuid.UUID) -> HttpResponse:
    return _transition(request, tenant, session_id, actions.finish_session, _("The session is finished and graded."))


@require_POST
@portal_page()
def session_cancel(request: HttpRequest, tenant: Tenant, session_id: uuid.UUID) -> HttpResponse:
    return _transition(request, tenant, session_id, actions.cancel_session, _("The session is cancelled."))


@require_POST
@portal_page()
def session_csat(request: HttpRequest, tenant: Tenant, session_id: uuid.UUID) -> HttpResponse:
    """Record the customer's CSAT answer (1-5), or clear it with an empty value."""
    session = _session_or_404(tenant, session_id)
    raw = request.POST.get("csat", "").strip()
    if raw and raw not in {"1", "2", "3", "4", "5"}:
        messages.error(request, _("CSAT is a whole number from 1 to 5."))
        return redirect("portal-session", session_id=session.public_id)
    return _transition(
        request,
        tenant,
        session_id,
        lambda actor, session: actions.record_csat(actor=actor, session=session, csat=int(raw) if raw else None),
        _("The customer's answer is saved."),
    )


# --- Image and video sessions from the portal ----------------------------------------------------


class NewSessionForm(forms.Form):
    channel = forms.ChoiceField(
        label=gettext_lazy("What will you upload?"),
        choices=[(Channel.IMAGES, gettext_lazy("Photos")), (Channel.VIDEO, gettext_lazy("A video"))],
        widget=forms.RadioSelect,
        initial=Channel.IMAGES,
    )
    customer_reference = forms.CharField(
        label=gettext_lazy("Customer reference"),
        required=False,
        max_length=200,
        help_text=gettext_lazy("Your own reference for the interaction (a ticket or case number), optional."),
    )


@require_http_methods(["GET", "POST"])
@portal_page()
def session_new(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """Start an image or video session for yourself, then upload on its page."""
    form = NewSessionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if tenant.user is None:  # pages are for people; tokens use the API
            raise Http404
        try:
            session = actions.start_session(
                actor=tenant.actor,
                company=tenant.company,
                agent=tenant.user,
                channel=form.cleaned_data["channel"],
                customer_reference=form.cleaned_data["customer_reference"],
            )
        except ActionError as error:
            messages.error(request, error.message)
        else:
            return redirect("portal-session", session_id=session.public_id)
    return render(
        request,
        "frontend/portal/session_new.html",
        {
            "form": form,
            "max_images": settings.EVALUATIONS_MAX_IMAGES_PER_UPLOAD,
            "max_image_mb": settings.EVALUATIONS_MAX_IMAGE_BYTES // 1_000_000,
            "max_video_mb": settings.EVALUATIONS_MAX_VIDEO_BYTES // 1_000_000,
        },
    )


@require_POST
@portal_page()
def session_upload(request: HttpRequest, tenant: Tenant, session_id: uuid.UUID) -> HttpResponse:
    """Add photos to an image session, or the video of a video session (validated like the API)."""
    session = _session_or_404(tenant, session_id)
    try:
        if session.channel == Channel.VIDEO:
            upload = request.FILES.get("video")
            if upload is None:
                raise ActionError(_("Choose a video file."), code="no_video")
            queue_video(
                actor=tenant.actor, session=session, upload=upload, sample_fps=settings.EVALUATIONS_VIDEO_SAMPLE_FPS
            )
            messages.success(request, _("The video is uploaded; its analysis is under way."))
        else:
            files = request.FILES.getlist("images")
            if not files:
                raise ActionError(_("Choose at least one photo."), code="no_images")
            sequences = queue_images(actor=tenant.actor, session=session, files=files)
            messages.success(
                request,
                ngettext("%(n)d photo is being analysed.", "%(n)d photos are being analysed.", len(sequences))
                % {"n": len(sequences)},
            )
    except ActionError as error:
        messages.error(request, error.message)
    return redirect("portal-session", session_id=session.public_id)
