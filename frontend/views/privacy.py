"""Data rights in the portal: export the company's data and delete the stored images (owners),
delete a session and erase a customer (admins and owners). The rules and the audit rows are ``evaluations.privacy``'s, the
same as the REST API's; docs/privacy.md explains what each removes and what the audit log keeps.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from accounts.exceptions import ActionError
from accounts.models import Role
from accounts.tenancy import Tenant
from evaluations import analytics, privacy
from evaluations.api import export_response
from frontend.portal import portal_page
from frontend.views.sessions import _session_or_404


@require_POST
@portal_page(Role.OWNER)
def company_export(request: HttpRequest, tenant: Tenant) -> HttpResponseBase:
    """The company's data as a zip download (the button on the company settings page)."""
    return export_response(tenant)


class CustomerErasureForm(forms.Form):
    customer_reference = forms.CharField(label=gettext_lazy("Customer reference"), max_length=200)
    confirm = forms.BooleanField(
        label=gettext_lazy("I understand that this deletes the customer's sessions for good."),
        error_messages={"required": gettext_lazy("Tick the box to confirm the erasure.")},
    )


@require_POST
@portal_page(Role.ADMIN)
def customer_erase(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """Erase every session of one customer reference (the form on the company settings page)."""
    form = CustomerErasureForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("portal-settings")
    try:
        erasure = privacy.erase_customer(
            actor=tenant.actor, company=tenant.company, customer_reference=form.cleaned_data["customer_reference"]
        )
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            ngettext(
                "The customer's data is erased: %(count)d session deleted, and the reference removed from the audit log.",
                "The customer's data is erased: %(count)d sessions deleted, and the reference removed from the audit log.",
                erasure.sessions,
            )
            % {"count": erasure.sessions},
        )
    return redirect("portal-settings")


@require_POST
@portal_page(Role.OWNER)
def stored_frames_delete(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """Delete every stored image of the company now (the owners' button on the company settings page)."""
    if not request.POST.get("confirm"):
        messages.error(request, _("Tick the box to confirm the deletion."))
        return redirect("portal-settings")
    try:
        deleted = privacy.delete_stored_frames(actor=tenant.actor, company=tenant.company)
    except ActionError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            ngettext("%(count)d stored image is deleted.", "%(count)d stored images are deleted.", deleted)
            % {"count": deleted},
        )
    return redirect("portal-settings")


@require_http_methods(["GET", "POST"])
@portal_page(Role.ADMIN)
def session_delete(request: HttpRequest, tenant: Tenant, session_id: uuid.UUID) -> HttpResponse:
    """Ask, then delete one finished or cancelled session."""
    session = _session_or_404(tenant, session_id)
    if request.method == "POST":
        try:
            privacy.delete_session(actor=tenant.actor, session=session)
        except ActionError as error:
            messages.error(request, error.message)
            return redirect("portal-session", session_id=session.public_id)
        messages.success(request, _("The session is deleted with everything recorded about it."))
        return redirect("portal-sessions")
    context = {"session": session, "zone": analytics.company_zone(tenant.company)}
    return render(request, "frontend/portal/session_delete.html", context)
