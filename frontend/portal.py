"""What every portal page shares: the tenant guard and the period picker."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from typing import Concatenate, ParamSpec

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Role
from accounts.tenancy import Tenant, tenant_for_request
from evaluations import analytics

EMOTION_LABELS = {
    "angry": gettext_lazy("angry"),
    "disgust": gettext_lazy("disgust"),
    "fear": gettext_lazy("fear"),
    "happy": gettext_lazy("happy"),
    "sad": gettext_lazy("sad"),
    "surprise": gettext_lazy("surprise"),
    "neutral": gettext_lazy("neutral"),
}

P = ParamSpec("P")
PortalView = Callable[Concatenate[HttpRequest, Tenant, P], HttpResponseBase]


def portal_page(
    minimum: Role = Role.AGENT, *, per_agent: bool = False
) -> Callable[[PortalView[P]], Callable[..., HttpResponseBase]]:
    """Guard a portal page: signed in, acting for a company, with at least ``minimum`` role.

    The view receives the request's :class:`Tenant`. Below the role the page is a 403.
    ``per_agent`` pages (agent summaries, coaching) answer 404 when the company hides per-agent
    views, as if they did not exist.
    """

    def decorate(view: PortalView[P]) -> Callable[..., HttpResponseBase]:
        @login_required
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
            tenant = tenant_for_request(request)
            if tenant is None:
                messages.info(request, _("Join or create a company to use the portal."))
                return redirect("home")
            if not tenant.role.at_least(minimum):
                raise PermissionDenied(_("Your role in this company does not give access to this page."))
            if per_agent and tenant.company.agent_views_hidden:
                raise Http404
            return view(request, tenant, *args, **kwargs)

        return wrapper

    return decorate


class PeriodForm(forms.Form):
    period = forms.ChoiceField(
        label=gettext_lazy("Period"),
        choices=[
            ("7", gettext_lazy("Last 7 days")),
            ("30", gettext_lazy("Last 30 days")),
            ("90", gettext_lazy("Last 90 days")),
            ("custom", gettext_lazy("Custom")),
        ],
        required=False,
    )
    first = forms.DateField(label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    last = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


def period_from(request: HttpRequest, tenant: Tenant) -> tuple[analytics.Period, PeriodForm, str | None]:
    """The period the page's query string asks for (default: last 30 days), its form, and an error."""
    form = PeriodForm(request.GET or None, initial={"period": "30"})
    key: str | None = "30"
    first: date | None = None
    last: date | None = None
    if form.is_valid():
        key = form.cleaned_data.get("period") or "30"
        first, last = form.cleaned_data.get("first"), form.cleaned_data.get("last")
    try:
        return analytics.period_for(tenant.company, key, first, last), form, None
    except analytics.PeriodError as error:
        return analytics.period_for(tenant.company, "30"), form, str(error)


def query_without(request: HttpRequest, *names: str) -> str:
    """The current query string without ``names`` (for pagination and sorting links)."""
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()
