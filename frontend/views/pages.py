"""Pages. They only read and dispatch; state changes go through ``accounts.actions``."""

from __future__ import annotations

import uuid

from allauth.account.adapter import get_adapter
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import actions
from accounts.exceptions import ActionError
from accounts.forms import PENDING_INVITATION_SESSION_KEY
from accounts.models import ApiToken, Invitation, Membership, Role, User
from accounts.tenancy import activate_company, tenant_for_request

DEFAULT_LIVE_FPS = 2
"""Frames per second the agent page sends unless the agent picks another rate: enough for a
grade (a 5-minute call gives 600 frames) at a fraction of the workers' capacity."""


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers and compose health checks."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        return JsonResponse({"status": "error", "database": str(error)}, status=503)
    return JsonResponse({"status": "ok"})


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The company overview: its settings at a glance, its members, and for admins the pending
    invitations and active API tokens, each linking to its settings page. Read-only.

    A signed-in user without a company sees the "no company yet" explanation.
    """
    tenant = tenant_for_request(request)
    context: dict[str, object] = {"tenant": tenant, "nav": "company"}
    if tenant is not None:
        company = tenant.company
        context["members"] = list(
            Membership.objects.for_company(company).select_related("user").order_by("created_at", "id")
        )
        context["rubric_is_default"] = not company.grading_rubric
        context["is_admin"] = tenant.role.at_least(Role.ADMIN)
        if context["is_admin"]:
            context["invitations"] = list(
                Invitation.objects.for_company(company)
                .filter(accepted_at=None, revoked_at=None, expires_at__gt=timezone.now())
                .order_by("-created_at", "-id")
            )
            context["tokens"] = list(
                ApiToken.objects.for_company(company).filter(revoked_at=None).order_by("-created_at", "-id")
            )
    return render(request, "frontend/home.html", context)


@login_required
@require_POST
def switch_company(request: HttpRequest) -> HttpResponseRedirect:
    """Switch the session's active company to one of the user's own; any other is a 404."""
    assert isinstance(request.user, User)
    try:
        wanted = uuid.UUID(request.POST.get("company", ""))
    except ValueError:
        raise Http404("No such company among yours.") from None
    membership = (
        Membership.objects.for_user(request.user).select_related("company").filter(company__public_id=wanted).first()
    )
    if membership is None:
        raise Http404("No such company among yours.")
    activate_company(request, membership)
    messages.success(request, _("You are now working in %(company)s.") % {"company": membership.company.name})
    return redirect("home")


@require_http_methods(["GET", "POST"])
def accept_invitation(request: HttpRequest, secret: str) -> HttpResponse:
    """Show an invitation; accept it when signed in with the invited address.

    Anonymous visitors get the secret stashed in their session, so signing up (or in) and
    coming back completes the flow.
    """
    invitation = actions.find_invitation(secret)
    user = request.user if isinstance(request.user, User) else None
    try:
        actions.check_invitation(invitation, user)
    except ActionError as error:
        return render(
            request,
            "frontend/invitation.html",
            {"error": error.message, "invitation": invitation},
            status=error.status_code,
        )
    assert invitation is not None
    if user is None:
        request.session[PENDING_INVITATION_SESSION_KEY] = secret
        # Following the e-mailed link proves control of the address: allauth skips verification for it.
        get_adapter(request).stash_verified_email(request, invitation.email)
        return render(
            request,
            "frontend/invitation.html",
            {"invitation": invitation, "next": reverse("invitation-accept", kwargs={"secret": secret})},
        )
    if request.method == "POST":
        try:
            membership = actions.accept_invitation(secret=secret, user=user)
        except ActionError as error:
            return render(
                request,
                "frontend/invitation.html",
                {"error": error.message, "invitation": invitation},
                status=error.status_code,
            )
        request.session.pop(PENDING_INVITATION_SESSION_KEY, None)
        activate_company(request, membership)
        messages.success(request, _("Welcome to %(company)s.") % {"company": membership.company.name})
        return redirect("home")
    return render(request, "frontend/invitation.html", {"invitation": invitation, "can_accept": True})


@login_required
@require_GET
def live_session(request: HttpRequest) -> HttpResponse:
    """The agent's live evaluation page: the camera notice first, the camera only after it.

    The page itself holds no state: the script starts a session through the REST API (session
    cookie + CSRF token), streams camera frames over the session's websocket and drives pause,
    resume and finish through the API, so the browser and API clients share one code path.
    """
    tenant = tenant_for_request(request)
    if tenant is None:
        messages.error(request, _("Join a company before running evaluations."))
        return redirect("home")
    max_fps = settings.EVALUATIONS_LIVE_MAX_FPS
    context = {
        "company": tenant.company,
        "fps_choices": [fps for fps in (1, 2, 3, 5, 10, 15, 30) if fps <= max_fps],
        "default_fps": min(DEFAULT_LIVE_FPS, max_fps),
        "live_config": {
            "sessionsUrl": reverse("session-list"),
            "maxFrameBytes": settings.EVALUATIONS_MAX_FRAME_BYTES,
            # The version of the notice this page shows: a session is refused if it changed since.
            "noticeVersion": tenant.company.consent_notice_version,
        },
    }
    return render(request, "frontend/live.html", context)


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Switch the interface language; a signed-in user's choice is saved to their account."""
    language = request.POST.get("language", "")
    if language not in dict(settings.LANGUAGES):
        return HttpResponse(status=400)
    if isinstance(request.user, User) and request.user.language != language:
        request.user.language = language
        request.user.save(update_fields=["language"])
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("home")
    response = HttpResponseRedirect(next_url)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    translation.activate(language)
    return response
