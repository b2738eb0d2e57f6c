"""Notification pages: preferences (everyone), one-click unsubscribe (no sign-in), the alert list
and the admin settings (company notification settings and webhook endpoints).

Pages read and dispatch; state changes go through ``notifications.actions``.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from accounts.exceptions import ActionError
from accounts.models import Company, Membership, Role, User
from accounts.tenancy import Tenant
from frontend.portal import portal_page
from notifications import actions, selectors
from notifications.forms import PreferenceForm
from notifications.models import Topic
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
