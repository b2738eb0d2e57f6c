"""Settings pages (admins and owners): company, grading rubric, members, invitations, API tokens
and the audit log.

The rules are the REST API's, enforced by ``accounts.actions`` (one place): admins change
settings, roles, invitations and tokens; only owners grant, remove or invite owners; the last
owner stays. A page only offers what the signed-in role may do; an action's refusal is shown
with its own message and status. Pages are session-only: API tokens never reach them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import actions
from accounts.exceptions import ActionError
from accounts.models import (
    ApiToken,
    AuditEvent,
    Company,
    Invitation,
    Membership,
    Role,
    TokenScope,
    available_time_zones,
)
from accounts.tenancy import Tenant
from evaluations import analytics, grading
from evaluations.models import Channel, RubricVersion
from evaluations.preview import PREVIEW_SESSIONS, preview_rubric
from evaluations.selectors import stored_frame_count
from frontend.portal import EMOTION_LABELS, portal_page, query_without

AUDIT_PAGE_SIZE = 50

# --- Shared -----------------------------------------------------------------------------------


def _render(
    request: HttpRequest, template: str, section: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    return render(
        request,
        f"frontend/settings/{template}",
        {"nav": "settings", "section": section, **context},
        status=status,
    )


def _no_store(response: HttpResponse) -> HttpResponse:
    """Keep a page that shows a one-time secret out of every cache (and the back button's)."""
    response["Cache-Control"] = "no-store"
    return response


def _field_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a model's validation errors next to the form's fields (others at the top)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _model_limits(field: str) -> dict[str, Any]:
    """The model field's bounds as a form field's ``min_value``/``max_value`` (one source of truth)."""
    limits: dict[str, Any] = {}
    model_field = Company._meta.get_field(field)
    assert isinstance(model_field, models.Field)
    for validator in model_field.validators:
        if isinstance(validator, MinValueValidator):
            limits["min_value"] = validator.limit_value
        elif isinstance(validator, MaxValueValidator):
            limits["max_value"] = validator.limit_value
    return limits


# --- Company ----------------------------------------------------------------------------------

_ZONE_REGIONS = ("Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")


def time_zone_choices(current: str) -> list[tuple[str, Any]]:
    """IANA zones grouped by region (``Europe/Madrid`` under Europe), UTC first.

    Legacy aliases (``US/Eastern``, ``EST5EDT``) are left out of the list, except the company's
    current zone, so a company set to one through the API still sees it selected.
    """
    zones = available_time_zones()
    groups: dict[str, list[tuple[str, str]]] = {region: [] for region in _ZONE_REGIONS}
    for zone in sorted(zones):
        region = zone.split("/", 1)[0]
        if region in groups and "/" in zone:
            groups[region].append((zone, zone.replace("_", " ")))
    choices: list[tuple[str, Any]] = [("UTC", "UTC")]
    if current not in ("UTC", *(z for group in groups.values() for z, _label in group)):
        choices.append((current, current))
    choices += [(region, groups[region]) for region in _ZONE_REGIONS if groups[region]]
    return choices


class CompanyForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Company name"), max_length=200)
    time_zone = forms.ChoiceField(
        label=gettext_lazy("Time zone"),
        help_text=gettext_lazy("Days, periods and times on the dashboard, history, audit log and reports use it."),
    )
    retention_days = forms.IntegerField(
        label=gettext_lazy("Keep evaluation data for (days)"),
        help_text=gettext_lazy(
            "Sessions older than this are deleted with their observations, every hour. The audit log is kept."
        ),
        **_model_limits("retention_days"),
    )
    consent_notice = forms.CharField(
        label=gettext_lazy("Camera notice"),
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=gettext_lazy(
            "Agents show this text to the customer before the camera starts; the camera stays off until "
            "they confirm the customer has seen it."
        ),
    )
    agent_views_hidden = forms.BooleanField(
        label=gettext_lazy("Hide per-agent results"),
        required=False,
        help_text=gettext_lazy(
            "Agent summaries, the coaching list and the agent filter disappear from the portal and the API "
            "(works councils often require it). Agents still see their own results."
        ),
    )
    mfa_required_for_admins = forms.BooleanField(
        label=gettext_lazy("Require two-factor authentication for owners and admins"),
        required=False,
        help_text=gettext_lazy(
            "Owners and admins without an authenticator app are sent to set one up before any other page, "
            "and their signed-in API calls are refused until then. Agents and API tokens are not affected."
        ),
    )
    store_frames = forms.BooleanField(
        label=gettext_lazy("Keep the analysed camera images for our own review"),
        required=False,
        help_text=gettext_lazy(
            "Off: every image is analysed and discarded; only the evidence is kept. On: the images analysed "
            "from then on (live camera frames, uploaded photos, the frames sampled from a video) are saved on "
            "your company's MoodSaaS server, beside the database, never sent elsewhere. They show on each "
            "session's page: admins and owners see every session's, agents their own sessions', API tokens "
            "through the API. Switching it off stores no new image and keeps those already stored until "
            "their time is up."
        ),
    )
    frame_retention_days = forms.IntegerField(
        label=gettext_lazy("Keep stored images for (days)"),
        help_text=gettext_lazy(
            "Each stored image is deleted this many days after it was captured (checked every hour), or "
            "earlier with its session."
        ),
        **_model_limits("frame_retention_days"),
    )

    def __init__(self, *args: Any, company: Company, owner: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = time_zone_choices(company.time_zone)  # type: ignore[attr-defined]
        if not owner:
            # A privacy decision: only owners make it (accounts.actions.OWNER_SETTING_FIELDS). Disabled
            # fields keep their current values whatever is posted.
            for name in actions.OWNER_SETTING_FIELDS:
                self.fields[name].disabled = True

    @classmethod
    def initial_for(cls, company: Company) -> dict[str, Any]:
        return {name: getattr(company, name) for name in cls.base_fields}


@require_http_methods(["GET", "POST"])
@portal_page(Role.ADMIN)
def company_settings(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    company = tenant.company
    form = CompanyForm(
        request.POST or None,
        company=company,
        owner=tenant.role.at_least(Role.OWNER),
        initial=CompanyForm.initial_for(company),
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            changed = company_changed(form.cleaned_data, company)
            try:
                actions.update_company_settings(actor=tenant.actor, company=company, changes=form.cleaned_data)
            except ValidationError as error:
                _field_errors(form, error)
            except ActionError as error:
                form.add_error(None, error.message)
                status = error.status_code
            else:
                if changed:
                    messages.success(request, _("The company settings are saved."))
                else:
                    messages.info(request, _("Nothing to save: the settings were already these."))
                return redirect("portal-settings")
    context = {"form": form, "company": company, "stored_frames": stored_frame_count(company)}
    return _render(request, "company.html", "company", context, status=status)


def company_changed(changes: Mapping[str, Any], company: Company) -> bool:
    return any(getattr(company, field) != value for field, value in changes.items())


# --- Grading rubric ---------------------------------------------------------------------------

QUALITY_FLAG_LABELS = {
    "too_small": gettext_lazy("Face too small (narrower than the model's 48 pixels)"),
    "too_dark": gettext_lazy("Face too dark"),
    "blurred": gettext_lazy("Face blurred"),
    "partly_outside": gettext_lazy("Face partly outside the picture"),
}
WEIGHT_ORDER = sorted(
    grading.EMOTIONS, key=lambda e: (grading.LETTERS.index(grading.GROUP_OF_EMOTION[e]), e != "happy")
)
"""The weights from the best letter's expressions to the worst's (happy, surprise, neutral, ...)."""
_SCALARS = (
    "recency_half_life_seconds",
    "min_usable_frames",
    "confident_frames",
    "interval_seconds",
    "min_face_score",
)


def _number_input(**attrs: Any) -> forms.NumberInput:
    # The browser's hints only; the rubric's own validation (grading.Rubric.from_json) decides.
    return forms.NumberInput(attrs={"step": "any", **attrs})


def _plain(value: Any) -> Any:
    """100.0 -> 100 for display; other values unchanged."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class RubricForm(forms.Form):
    """The rubric as a form. Each value is checked by ``grading.Rubric.from_json`` itself, so the
    page accepts exactly what grading accepts, with the rubric's message on the field."""

    recency_half_life_seconds = forms.FloatField(
        label=gettext_lazy("Recency half-life (seconds)"),
        widget=_number_input(min=0),
        help_text=gettext_lazy(
            "A frame this long before the session's last frame counts half as much in the score; "
            "0 averages every frame equally."
        ),
    )
    min_usable_frames = forms.IntegerField(
        label=gettext_lazy("Minimum usable frames"),
        widget=_number_input(min=1, step=1),
        help_text=gettext_lazy("With fewer usable frames a session gets “insufficient evidence” and no letter."),
    )
    confident_frames = forms.IntegerField(
        label=gettext_lazy("Frames for full confidence"),
        widget=_number_input(min=1, step=1),
        help_text=gettext_lazy("Confidence grows with usable frames up to this many."),
    )
    interval_seconds = forms.FloatField(
        label=gettext_lazy("Timeline interval (seconds)"),
        widget=_number_input(min=0.5),
        help_text=gettext_lazy("Width of each interval of the session timeline."),
    )
    min_face_score = forms.FloatField(
        label=gettext_lazy("Minimum face detection score"),
        widget=_number_input(min=0, max=1),
        help_text=gettext_lazy("0 to 1: faces the detector is less sure of do not vote."),
    )
    exclude_flags = forms.MultipleChoiceField(
        label=gettext_lazy("Faces that do not vote"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for emotion in WEIGHT_ORDER:
            self.fields[f"weight_{emotion}"] = forms.FloatField(
                label=capfirst(EMOTION_LABELS[emotion]), widget=_number_input(min=0, max=100)
            )
        known = dict(QUALITY_FLAG_LABELS)
        for flag in self.initial.get("exclude_flags", ()):
            known.setdefault(flag, flag)
        self.fields["exclude_flags"].choices = list(known.items())  # type: ignore[attr-defined]

    @property
    def weight_fields(self) -> list[forms.BoundField]:
        return [self[f"weight_{e}"] for e in WEIGHT_ORDER]

    @property
    def rule_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in _SCALARS]

    @staticmethod
    def initial_for(rubric: grading.Rubric) -> dict[str, Any]:
        rules = rubric.to_json()
        initial = {name: _plain(rules[name]) for name in _SCALARS}
        initial |= {f"weight_{e}": _plain(w) for e, w in rules["weights"].items()}
        initial["exclude_flags"] = list(rules["exclude_flags"])
        return initial

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        rules: dict[str, Any] = {name: data[name] for name in _SCALARS}
        rules["weights"] = {e: data[f"weight_{e}"] for e in grading.EMOTIONS}
        rules["exclude_flags"] = list(data["exclude_flags"])
        # Value by value, over the defaults, so each message lands next to its own field.
        for name in _SCALARS:
            self._check({name: rules[name]}, name)
        for emotion in grading.EMOTIONS:
            weights = {**grading.DEFAULT_RUBRIC["weights"], emotion: rules["weights"][emotion]}
            self._check({"weights": weights}, f"weight_{emotion}")
        if not self.errors:
            self._check(rules, None)
        if not self.errors:
            data["rubric"] = grading.Rubric.from_json(rules)
        return data

    def _check(self, rules: dict[str, Any], field: str | None) -> None:
        try:
            grading.Rubric.from_json(rules)
        except grading.RubricError as error:
            self.add_error(field, str(error))


def stored_rules(rubric: grading.Rubric) -> dict[str, Any]:
    """What the company keeps: only the values that differ from the defaults.

    A company that never changed a value follows the defaults of later releases; the defaults
    never change a finished session's grade, because sessions point at immutable rubric versions.
    """
    default = grading.Rubric.from_json(None).to_json()
    return {key: value for key, value in rubric.to_json().items() if value != default[key]}


def _company_rubric(company: Company) -> grading.Rubric:
    try:
        return grading.Rubric.from_json(company.grading_rubric)
    except grading.RubricError:
        # Unreachable through the API and this page (both validate); show the defaults to fix it.
        return grading.Rubric.from_json(None)


@require_http_methods(["GET", "POST"])
@portal_page(Role.ADMIN)
def rubric_settings(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """Edit the rubric. "Preview" grades recent sessions with the proposal and saves nothing.

    The preview is a POST like saving (not a GET) so that the CSRF token never lands in a URL.
    """
    company = tenant.company
    current = _company_rubric(company)
    form = RubricForm(request.POST or None, initial=RubricForm.initial_for(current))
    # Enter in a field submits the first button, "Preview": anything but save or reset is a preview.
    intent = request.POST.get("intent") if request.POST.get("intent") in ("save", "reset") else "preview"
    status = 200
    preview = None
    if request.method == "POST":
        rules = {} if intent == "reset" else stored_rules(form.cleaned_data["rubric"]) if form.is_valid() else None
        if rules is None:
            status = 400
        elif intent == "preview":
            preview = preview_rubric(company, form.cleaned_data["rubric"])
        else:
            try:
                actions.update_company_settings(actor=tenant.actor, company=company, changes={"grading_rubric": rules})
            except ValidationError as error:
                form.add_error(None, error.messages)
                status = 400
            except ActionError as error:
                form.add_error(None, error.message)
                status = error.status_code
            else:
                messages.success(
                    request,
                    _(
                        "The grading rubric is saved. Sessions started from now on are graded with it; "
                        "finished sessions keep their grade."
                    ),
                )
                return redirect("portal-settings-rubric")
    context = {
        "form": form,
        "preview": preview,
        "preview_limit": PREVIEW_SESSIONS,
        "version": RubricVersion.objects.for_company(company).filter(fingerprint=current.fingerprint()).first(),
        "is_default": not stored_rules(current),
        "show_agents": not company.agent_views_hidden,
        "zone": analytics.company_zone(company),
    }
    return _render(request, "rubric.html", "rubric", context, status=status)


# --- Members ----------------------------------------------------------------------------------


def _role_choices(tenant: Tenant, membership: Membership) -> list[tuple[str, str]]:
    """The roles the signed-in member may give ``membership`` (empty: they may not change it)."""
    if membership.role == Role.OWNER and tenant.role != Role.OWNER:
        return []
    allowed = (
        Role.choices if tenant.role == Role.OWNER else [(r, label) for r, label in Role.choices if r != Role.OWNER]
    )
    return [(value, str(label)) for value, label in allowed]


def _members(tenant: Tenant) -> list[Membership]:
    return list(Membership.objects.for_company(tenant.company).select_related("user").order_by("created_at", "id"))


def _member_or_404(tenant: Tenant, member_id: uuid.UUID) -> Membership:
    membership = (
        Membership.objects.for_company(tenant.company)
        .select_related("user", "company")
        .filter(public_id=member_id)
        .first()
    )
    if membership is None:
        raise Http404(_("No such member in your company."))
    return membership


def _members_page(request: HttpRequest, tenant: Tenant, error: ActionError | None = None) -> HttpResponse:
    members = _members(tenant)
    owners = sum(m.role == Role.OWNER for m in members)
    rows = [
        {
            "membership": m,
            "choices": _role_choices(tenant, m),
            "last_owner": m.role == Role.OWNER and owners == 1,
            "is_me": tenant.user is not None and m.user_id == tenant.user.pk,
            "can_remove": m.role != Role.OWNER or tenant.role == Role.OWNER,
        }
        for m in members
    ]
    context = {"rows": rows, "error": error.message if error else None}
    return _render(request, "members.html", "members", context, status=error.status_code if error else 200)


@require_GET
@portal_page(Role.ADMIN)
def member_list(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    return _members_page(request, tenant)


@require_POST
@portal_page(Role.ADMIN)
def member_role(request: HttpRequest, tenant: Tenant, member_id: uuid.UUID) -> HttpResponse:
    membership = _member_or_404(tenant, member_id)
    try:
        role = Role(request.POST.get("role", ""))
    except ValueError:
        return _members_page(request, tenant, ActionError(_("Choose a role: owner, admin or agent."), code="role"))
    previous = membership.role
    try:
        actions.change_member_role(actor=tenant.actor, membership=membership, role=role)
    except ActionError as error:
        return _members_page(request, tenant, error)
    if previous != role:
        messages.success(
            request,
            _("%(email)s is now %(role)s.") % {"email": membership.user.email, "role": role.label.lower()},
        )
    return redirect("portal-settings-members")


@require_POST
@portal_page(Role.ADMIN)
def member_remove(request: HttpRequest, tenant: Tenant, member_id: uuid.UUID) -> HttpResponse:
    membership = _member_or_404(tenant, member_id)
    try:
        actions.remove_member(actor=tenant.actor, membership=membership)
    except ActionError as error:
        return _members_page(request, tenant, error)
    messages.success(
        request,
        _("%(email)s is no longer a member of %(company)s.")
        % {"email": membership.user.email, "company": tenant.company.name},
    )
    if tenant.user is not None and membership.user_id == tenant.user.pk:
        return redirect("home")  # they removed themselves
    return redirect("portal-settings-members")


# --- Invitations ------------------------------------------------------------------------------


class InvitationForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("E-mail address"))
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices, initial=Role.AGENT)

    def __init__(self, *args: Any, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The field accepts every role so that the action gives its own refusal; the list offers
        # only the roles this member may invite.
        offered = [(r, label) for r, label in Role.choices if r != Role.OWNER or tenant.role == Role.OWNER]
        self.fields["role"].widget.choices = offered


def _pending_invitations(company: Company) -> list[Invitation]:
    return list(
        Invitation.objects.for_company(company)
        .filter(accepted_at=None, revoked_at=None, expires_at__gt=timezone.now())
        .select_related("invited_by")
        .order_by("-created_at", "-id")
    )


def _invitations_page(
    request: HttpRequest, tenant: Tenant, form: InvitationForm, status: int = 200, **extra: Any
) -> HttpResponse:
    context = {
        "form": form,
        "invitations": _pending_invitations(tenant.company),
        "can_invite_owners": tenant.role == Role.OWNER,
        "zone": analytics.company_zone(tenant.company),
        **extra,
    }
    return _render(request, "invitations.html", "invitations", context, status=status)


@require_http_methods(["GET", "POST"])
@portal_page(Role.ADMIN)
def invitation_list(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """Pending invitations, and a form to invite someone; the accept link is shown once, here."""
    form = InvitationForm(request.POST or None, tenant=tenant)
    if request.method == "GET":
        return _invitations_page(request, tenant, form)
    if not form.is_valid():
        return _invitations_page(request, tenant, form, status=400)
    try:
        invitation, secret = actions.invite_member(
            actor=tenant.actor,
            company=tenant.company,
            email=form.cleaned_data["email"],
            role=Role(form.cleaned_data["role"]),
            base_url=request.build_absolute_uri("/"),
        )
    except ActionError as error:
        form.add_error("email" if error.code in ("already_member", "already_invited") else None, error.message)
        return _invitations_page(request, tenant, form, status=error.status_code)
    # Rendered, not redirected: the secret lives only in this response, never in a session or cache.
    response = _invitations_page(
        request,
        tenant,
        InvitationForm(tenant=tenant),
        status=201,
        created=invitation,
        accept_url=request.build_absolute_uri(actions.invitation_url(secret)),
    )
    return _no_store(response)


@require_POST
@portal_page(Role.ADMIN)
def invitation_revoke(request: HttpRequest, tenant: Tenant, invitation_id: uuid.UUID) -> HttpResponse:
    invitation = Invitation.objects.for_company(tenant.company).filter(public_id=invitation_id).first()
    if invitation is None:
        raise Http404(_("No such invitation in your company."))
    try:
        actions.revoke_invitation(actor=tenant.actor, invitation=invitation)
    except ActionError as error:
        form = InvitationForm(tenant=tenant)
        return _invitations_page(request, tenant, form, status=error.status_code, error=error.message)
    messages.success(request, _("The invitation for %(email)s is revoked.") % {"email": invitation.email})
    return redirect("portal-settings-invitations")


# --- API tokens -------------------------------------------------------------------------------


class TokenForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=100,
        help_text=gettext_lazy("What uses it, e.g. “CRM integration”."),
    )
    scope = forms.ChoiceField(label=gettext_lazy("Access"), choices=TokenScope.choices, initial=TokenScope.READ)


def _tokens(company: Company) -> list[ApiToken]:
    return list(ApiToken.objects.for_company(company).select_related("created_by").order_by("-created_at", "-id"))


def _tokens_page(
    request: HttpRequest, tenant: Tenant, form: TokenForm, status: int = 200, **extra: Any
) -> HttpResponse:
    context = {"form": form, "tokens": _tokens(tenant.company), "zone": analytics.company_zone(tenant.company), **extra}
    return _render(request, "tokens.html", "tokens", context, status=status)


@require_http_methods(["GET", "POST"])
@portal_page(Role.ADMIN)
def token_list(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """The company's API tokens; a new token's secret is shown in the creating response only."""
    form = TokenForm(request.POST or None)
    if request.method == "GET":
        return _tokens_page(request, tenant, form)
    if not form.is_valid():
        return _tokens_page(request, tenant, form, status=400)
    try:
        token, secret = actions.create_api_token(
            actor=tenant.actor,
            company=tenant.company,
            name=form.cleaned_data["name"],
            scope=TokenScope(form.cleaned_data["scope"]),
        )
    except ActionError as error:
        form.add_error(None, error.message)
        return _tokens_page(request, tenant, form, status=error.status_code)
    # Rendered, not redirected: only the hash is stored, and the secret is in this response alone.
    return _no_store(_tokens_page(request, tenant, TokenForm(), status=201, created=token, secret=secret))


@require_POST
@portal_page(Role.ADMIN)
def token_revoke(request: HttpRequest, tenant: Tenant, token_id: uuid.UUID) -> HttpResponse:
    token = ApiToken.objects.for_company(tenant.company).filter(public_id=token_id).first()
    if token is None:
        raise Http404(_("No such API token in your company."))
    try:
        actions.revoke_api_token(actor=tenant.actor, token=token)
    except ActionError as error:
        return _tokens_page(request, tenant, TokenForm(), status=error.status_code, error=error.message)
    messages.success(
        request, _("The token “%(name)s” is revoked; requests with it are refused.") % {"name": token.name}
    )
    return redirect("portal-settings-tokens")


# --- Audit log --------------------------------------------------------------------------------

AUDIT_ACTIONS: dict[str, Any] = {
    "company.created": gettext_lazy("Company created"),
    "company.settings_updated": gettext_lazy("Settings changed"),
    "member.added": gettext_lazy("Member added"),
    "member.role_changed": gettext_lazy("Role changed"),
    "member.removed": gettext_lazy("Member removed"),
    "invitation.created": gettext_lazy("Invitation sent"),
    "invitation.accepted": gettext_lazy("Invitation accepted"),
    "invitation.revoked": gettext_lazy("Invitation revoked"),
    "api_token.created": gettext_lazy("API token created"),
    "api_token.revoked": gettext_lazy("API token revoked"),
    "session.started": gettext_lazy("Session started"),
    "session.paused": gettext_lazy("Session paused"),
    "session.resumed": gettext_lazy("Session resumed"),
    "session.finished": gettext_lazy("Session finished"),
    "session.cancelled": gettext_lazy("Session cancelled"),
    "session.images_added": gettext_lazy("Images added"),
    "session.video_uploaded": gettext_lazy("Video uploaded"),
    "session.video_analysed": gettext_lazy("Video analysed"),
    "session.video_failed": gettext_lazy("Video failed"),
    "session.csat_recorded": gettext_lazy("CSAT recorded"),
    "sessions.purged": gettext_lazy("Old sessions deleted"),
    "frames.purged": gettext_lazy("Old stored images deleted"),
    "frames.deleted": gettext_lazy("Stored images deleted"),
}
TARGET_TYPES: dict[str, Any] = {
    "accounts.company": gettext_lazy("Company"),
    "accounts.membership": gettext_lazy("Member"),
    "accounts.invitation": gettext_lazy("Invitation"),
    "accounts.apitoken": gettext_lazy("API token"),
    "evaluations.evaluationsession": gettext_lazy("Session"),
}
SETTING_LABELS: dict[str, Any] = {
    "name": gettext_lazy("name"),
    "time_zone": gettext_lazy("time zone"),
    "retention_days": gettext_lazy("retention days"),
    "consent_notice": gettext_lazy("camera notice"),
    "agent_views_hidden": gettext_lazy("per-agent results hidden"),
    "store_frames": gettext_lazy("frame storage"),
    "frame_retention_days": gettext_lazy("stored image days"),
    "grading_rubric": gettext_lazy("grading rubric"),
}
_SHORT = 60


class AuditFilterForm(forms.Form):
    actor = forms.CharField(
        label=gettext_lazy("Actor"),
        required=False,
        max_length=254,
        widget=forms.TextInput(attrs={"list": "audit-actors", "autocomplete": "off"}),
    )
    action = forms.ChoiceField(label=gettext_lazy("Action"), required=False)
    first = forms.DateField(label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    last = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = sorted(((key, str(label)) for key, label in AUDIT_ACTIONS.items()), key=lambda c: c[1])
        self.fields["action"].choices = [("", _("Any")), *choices]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, last = data.get("first"), data.get("last")
        if first and last and last < first:
            self.add_error("last", _("The last day comes before the first."))
        return data


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    action: str
    target: str
    target_url: str | None
    summary: str


def _short(value: Any) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if value is None or value == "":
        return "\u2013"
    text = str(value)
    return text if len(text) <= _SHORT else text[: _SHORT - 1] + "…"


def _frames(metadata: Mapping[str, Any]) -> str:
    return _("%(processed)s of %(received)s frames analysed") % {
        "processed": metadata.get("frames_processed", 0),
        "received": metadata.get("frames_received", 0),
    }


def _settings_changes(changes: Mapping[str, Any]) -> str:
    parts = []
    # jsonb does not keep key order: list the settings in the form's order.
    order = list(SETTING_LABELS)
    for field in sorted(changes, key=lambda f: (order.index(f) if f in order else len(order), f)):
        change, label = changes[field], str(SETTING_LABELS.get(field, field))
        if field in ("consent_notice", "grading_rubric") or not isinstance(change, Mapping):
            parts.append(_("%(setting)s changed") % {"setting": label})
        else:
            parts.append(f"{label}: {_short(change.get('from'))} → {_short(change.get('to'))}")
    return "; ".join(parts)


def metadata_summary(action: str, metadata: Mapping[str, Any]) -> str:
    """One line saying what an audit row's metadata holds (long texts and rubrics only named)."""
    if action == "company.settings_updated":
        return _settings_changes(metadata.get("changes") or {})
    if action in ("member.role_changed", "session.csat_recorded"):
        subject = f"{metadata['email']}: " if "email" in metadata else ""
        return f"{subject}{_short(metadata.get('from'))} → {_short(metadata.get('to'))}"
    if action == "session.started":
        channel = str(metadata.get("channel", ""))
        shown = str(Channel(channel).label) if channel in Channel.values else channel  # the reader's language
        parts = [str(metadata.get("agent", "")), shown]
        parts.append(_("rubric v%(version)s") % {"version": metadata.get("rubric_version", "?")})
        if metadata.get("channel") == "live":
            parts.append(_("camera notice shown") if metadata.get("notice_shown") else _("camera notice not confirmed"))
        return ", ".join(p for p in parts if p)
    if action == "session.finished":
        grade = metadata.get("grade") or ""
        shown = _("insufficient evidence") if grade == grading.INSUFFICIENT else grade
        score = metadata.get("score")
        scored = "" if score is None else _(", score %(score)s") % {"score": number_format(Decimal(f"{score:.1f}"))}
        return f"{shown}{scored}; {_frames(metadata)}"
    if action in ("session.paused", "session.cancelled"):
        return _frames(metadata)
    return ", ".join(
        f"{key.replace('_', ' ')}: {_short(value)}"
        for key, value in metadata.items()
        if not isinstance(value, (dict, list))
    )


def audit_rows(events: Iterable[AuditEvent]) -> list[AuditRow]:
    rows = []
    for event in events:
        url = None
        if event.target_type == "evaluations.evaluationsession":
            try:
                url = reverse("portal-session", kwargs={"session_id": uuid.UUID(event.target_id)})
            except ValueError:
                url = None
        rows.append(
            AuditRow(
                event=event,
                action=str(AUDIT_ACTIONS.get(event.action, event.action)),
                target=str(TARGET_TYPES.get(event.target_type, event.target_type)),
                target_url=url,
                summary=metadata_summary(event.action, event.metadata or {}),
            )
        )
    return rows


def _day_start(day: date, zone: Any) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


@require_GET
@portal_page(Role.ADMIN)
def audit_log(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """The company's audit log, newest first, filtered by actor, action and days (company time)."""
    company = tenant.company
    zone = analytics.company_zone(company)
    form = AuditFilterForm(request.GET or None)
    events = AuditEvent.objects.for_company(company)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["actor"].strip():
            events = events.filter(actor_label__iexact=data["actor"].strip())
        if data["action"]:
            events = events.filter(action=data["action"])
        if data["first"]:
            events = events.filter(created_at__gte=_day_start(data["first"], zone))
        if data["last"]:
            events = events.filter(created_at__lt=_day_start(data["last"] + timedelta(days=1), zone))
    elif form.is_bound:
        events = events.none()
    page = Paginator(events.order_by("-created_at", "-id"), AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    actors = [
        m.user.email for m in Membership.objects.for_company(company).select_related("user").order_by("user__email")
    ]
    actors += [
        f"token:{prefix}" for prefix in ApiToken.objects.for_company(company).values_list("display_prefix", flat=True)
    ]
    context = {
        "form": form,
        "page": page,
        "rows": audit_rows(page.object_list),
        "actors": [*actors, "system"],
        "page_query": query_without(request, "page"),
        "zone": zone,
    }
    return _render(request, "audit.html", "audit", context)
