"""Notification pages: preferences (everyone), one-click unsubscribe (no sign-in), the alert list
and the admin settings (company notification settings and webhook endpoints).

Pages read and dispatch; state changes go through ``notifications.actions``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.exceptions import ActionError
from accounts.models import Company, Membership, Role, User
from accounts.tenancy import Tenant
from evaluations.analytics import company_zone
from frontend.portal import portal_page
from notifications import actions, protocol, selectors
from notifications.api import attempts_by_delivery
from notifications.forms import CompanyNotificationForm, PreferenceForm, WebhookEndpointEditForm, WebhookEndpointForm
from notifications.models import CompanySettings, Notification, Topic, WebhookDelivery, WebhookEndpoint
from notifications.unsubscribe import read_token

# --- Preferences --------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@portal_page(Role.AGENT)
def preferences(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """The signed-in person's own notification preferences in the active company."""
    assert tenant.user is not None  # portal pages are session-only
    manager = tenant.role.at_least(Role.ADMIN)
    current = selectors.preference_for(tenant.company, tenant.user)
    form = PreferenceForm(request.POST or None, manager=manager, initial=PreferenceForm.initial_for(current))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                actions.update_preferences(actor=tenant.actor, company=tenant.company, changes=form.cleaned_data)
            except ActionError as error:
                form.add_error(None, error.message)
                status = error.status_code
            else:
                messages.success(request, _("Your notification preferences are saved."))
                return redirect("notifications-preferences")
    return render(
        request,
        "notifications/preferences.html",
        {"form": form, "manager": manager, "nav": "notifications"},
        status=status,
    )


# --- One-click unsubscribe (RFC 8058) -------------------------------------------------------------

TOPIC_LABELS = {
    Topic.SESSION_RESULTS: gettext_lazy("session results"),
    Topic.ALERTS: gettext_lazy("alerts"),
    Topic.DIGEST: gettext_lazy("the digest"),
}


@csrf_exempt  # mail providers POST "List-Unsubscribe=One-Click" without a CSRF token; the signed token is the proof
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks to confirm (link checkers must not unsubscribe anyone); POST unsubscribes.

    Works without signing in. A forged or damaged link, or one for a membership that no longer
    exists, is a 404 that writes nothing.
    """
    subscription = read_token(token)
    membership = None
    if subscription is not None:
        membership = (
            Membership.objects.for_company_id(subscription.company_id)
            .select_related("company", "user")
            .filter(user_id=subscription.user_id)
            .first()
        )
    if subscription is None or membership is None:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=404)
    user: User = membership.user
    company: Company = membership.company
    context = {
        "company": company,
        "email": user.email,
        "topic": TOPIC_LABELS[Topic(subscription.topic)],
    }
    if request.method == "POST":
        actions.unsubscribe(company=company, user=user, topic=subscription.topic)
        context["done"] = True
    # The page speaks the language of the e-mail it came from.
    with translation.override(user.language or translation.get_language()):
        return render(request, "notifications/unsubscribe.html", context)


# --- Company notification settings (admins) ------------------------------------------------------


def _settings_page(
    request: HttpRequest, template: str, section: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    return render(
        request, f"notifications/settings/{template}", {"nav": "settings", "section": section, **context}, status=status
    )


def _no_store(response: HttpResponse) -> HttpResponse:
    """Keep a page that shows a one-time secret out of every cache (and the back button's)."""
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@portal_page(Role.ADMIN)
def company_settings(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """The company's alert threshold and digest frequency."""
    current = CompanySettings.objects.for_company(tenant.company).first() or CompanySettings(company=tenant.company)
    form = CompanyNotificationForm(
        request.POST or None,
        default_seconds=settings.NOTIFICATIONS_NEGATIVE_ALERT_SECONDS,
        initial={"negative_alert_seconds": current.negative_alert_seconds, "digest": current.digest},
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                actions.update_company_settings(actor=tenant.actor, company=tenant.company, changes=form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, error.messages)
            except ActionError as error:
                form.add_error(None, error.message)
                status = error.status_code
            else:
                messages.success(request, _("The notification settings are saved."))
                return redirect("notifications-settings")
    return _settings_page(request, "company.html", "notifications", {"form": form}, status=status)


# --- Webhook endpoints (admins) ------------------------------------------------------------------

DELIVERY_LOG_SIZE = 50


def _endpoint_or_404(tenant: Tenant, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.for_company(tenant.company).filter(public_id=endpoint_id).first()
    if endpoint is None:
        raise Http404(_("No such webhook endpoint in your company."))
    return endpoint


@require_http_methods(["GET", "POST"])
@portal_page(Role.ADMIN)
def webhook_list(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """The company's endpoints, and a form to add one (its secret is shown once, on this answer)."""
    form = WebhookEndpointForm(request.POST or None)
    created: WebhookEndpoint | None = None
    secret = ""
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                created, secret = actions.create_endpoint(
                    actor=tenant.actor,
                    company=tenant.company,
                    url=form.cleaned_data["url"],
                    events=form.cleaned_data["events"],
                    description=form.cleaned_data["description"],
                )
            except ActionError as error:
                form.add_error("url" if error.code == "url" else None, error.message)
                status = error.status_code
            else:
                status = 201
                form = WebhookEndpointForm()
    endpoints = list(WebhookEndpoint.objects.for_company(tenant.company))
    context = {
        "form": form,
        "endpoints": endpoints,
        "created": created,
        "secret": secret,
        "zone": company_zone(tenant.company),
    }
    response = _settings_page(request, "webhooks.html", "webhooks", context, status=status)
    return _no_store(response) if secret else response


@require_http_methods(["GET", "POST"])
@portal_page(Role.ADMIN)
def webhook_detail(request: HttpRequest, tenant: Tenant, endpoint_id: uuid.UUID) -> HttpResponse:
    """One endpoint: change it, test it, rotate its secret, delete it, and its delivery log."""
    endpoint = _endpoint_or_404(tenant, endpoint_id)
    form = None
    status = 200
    if request.method == "POST":
        form = WebhookEndpointEditForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                actions.update_endpoint(actor=tenant.actor, endpoint=endpoint, changes=form.cleaned_data)
            except ActionError as error:
                form.add_error("url" if error.code == "url" else None, error.message)
                status = error.status_code
            else:
                messages.success(request, _("The webhook endpoint is saved."))
                return redirect("notifications-webhook", endpoint_id=endpoint.public_id)
    return _detail_page(request, tenant, endpoint, form, status=status)


def _detail_page(
    request: HttpRequest,
    tenant: Tenant,
    endpoint: WebhookEndpoint,
    form: WebhookEndpointEditForm | None = None,
    *,
    secret: str = "",
    status: int = 200,
) -> HttpResponse:
    if form is None:
        form = WebhookEndpointEditForm(
            initial={
                "url": endpoint.url,
                "description": endpoint.description,
                "events": endpoint.events,
                "enabled": endpoint.enabled,
            }
        )
    deliveries = list(
        WebhookDelivery.objects.for_company(tenant.company)
        .filter(endpoint=endpoint)
        .select_related("event")[:DELIVERY_LOG_SIZE]
    )
    attempts = attempts_by_delivery(deliveries)
    context = {
        "endpoint": endpoint,
        "form": form,
        "log": [(d, attempts.get(d.pk, [])) for d in deliveries],
        "log_size": DELIVERY_LOG_SIZE,
        "zone": company_zone(tenant.company),
        "secret": secret,
        "in_grace": endpoint.previous_secret_expires_at is not None
        and endpoint.previous_secret_expires_at > timezone.now(),
    }
    response = _settings_page(request, "webhook.html", "webhooks", context, status=status)
    return _no_store(response) if secret else response


@require_POST
@portal_page(Role.ADMIN)
def webhook_rotate(request: HttpRequest, tenant: Tenant, endpoint_id: uuid.UUID) -> HttpResponse:
    """A new secret, shown once on this answer (never stored anywhere but the endpoint)."""
    endpoint, secret = actions.rotate_secret(actor=tenant.actor, endpoint=_endpoint_or_404(tenant, endpoint_id))
    return _detail_page(request, tenant, endpoint, secret=secret)


@require_POST
@portal_page(Role.ADMIN)
def webhook_test(request: HttpRequest, tenant: Tenant, endpoint_id: uuid.UUID) -> HttpResponse:
    endpoint = _endpoint_or_404(tenant, endpoint_id)
    actions.send_test_event(actor=tenant.actor, endpoint=endpoint)
    messages.success(request, _("A test event was sent; its delivery is at the top of the log."))
    return redirect("notifications-webhook", endpoint_id=endpoint.public_id)


@require_POST
@portal_page(Role.ADMIN)
def webhook_delete(request: HttpRequest, tenant: Tenant, endpoint_id: uuid.UUID) -> HttpResponse:
    endpoint = _endpoint_or_404(tenant, endpoint_id)
    actions.delete_endpoint(actor=tenant.actor, endpoint=endpoint)
    messages.success(request, _("The webhook endpoint %(url)s is deleted.") % {"url": endpoint.url})
    return redirect("notifications-webhooks")


# --- In-app alerts (everyone) ----------------------------------------------------------------------

ALERTS_PAGE_SIZE = 25


def _notification_or_404(tenant: Tenant, notification_id: uuid.UUID) -> Notification:
    assert tenant.user is not None
    found = selectors.notifications_of(tenant.company, tenant.user).filter(public_id=notification_id).first()
    if found is None:
        raise Http404(_("No such alert of yours."))
    return found


@require_GET
@portal_page(Role.AGENT)
def alert_list(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """The signed-in person's alerts in the active company, newest first."""
    assert tenant.user is not None
    page = Paginator(selectors.notifications_of(tenant.company, tenant.user), ALERTS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = [(n, protocol.describe(n)) for n in page]
    context = {
        "page": page,
        "rows": rows,
        "unread": selectors.unread_count(tenant.company.pk, tenant.user.pk),
        "zone": company_zone(tenant.company),
        "nav": "alerts",
    }
    return render(request, "notifications/alerts.html", context)


@require_GET
@portal_page(Role.AGENT)
def alert_open(request: HttpRequest, tenant: Tenant, notification_id: uuid.UUID) -> HttpResponse:
    """Follow an alert to its session, marking it read on the way."""
    notification = _notification_or_404(tenant, notification_id)
    actions.mark_read(actor=tenant.actor, notification=notification)
    session = (notification.event.payload.get("session") or {}).get("id")
    if not session:
        return redirect("notifications-list")
    return redirect("portal-session", session_id=session)


@require_POST
@portal_page(Role.AGENT)
def alert_read(request: HttpRequest, tenant: Tenant, notification_id: uuid.UUID) -> HttpResponse:
    actions.mark_read(actor=tenant.actor, notification=_notification_or_404(tenant, notification_id))
    return redirect("notifications-list")


@require_POST
@portal_page(Role.AGENT)
def alert_read_all(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    changed = actions.mark_all_read(actor=tenant.actor, company=tenant.company)
    if changed:
        messages.success(request, _("All alerts are marked read."))
    return redirect("notifications-list")
