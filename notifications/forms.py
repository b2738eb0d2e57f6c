"""Forms of the notification pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from notifications.models import WEBHOOK_EVENT_TYPES, DigestFrequency, Preference, Scope


class PreferenceForm(forms.Form):
    session_results = forms.BooleanField(label=_("E-mail me session results"), required=False)
    alerts = forms.BooleanField(
        label=_("E-mail me alerts"),
        required=False,
        help_text=_("A session ends with D or F, or a customer looks upset for a while during a session."),
    )
    in_app_alerts = forms.BooleanField(label=_("Show alerts under the bell in the portal"), required=False)
    digest = forms.BooleanField(
        label=_("E-mail me the company digest"),
        required=False,
        help_text=_("Figures, trend and the D/F sessions of the last day or week, as the company settings say."),
    )
    scope = forms.ChoiceField(label=_("Which sessions"), choices=Scope.choices, widget=forms.RadioSelect)

    def __init__(self, *args: Any, manager: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not manager:
            # Agents hear about their own sessions only, and company figures are for managers.
            del self.fields["digest"]
            del self.fields["scope"]

    @staticmethod
    def initial_for(preference: Preference) -> dict[str, Any]:
        return {f: getattr(preference, f) for f in ("session_results", "alerts", "in_app_alerts", "digest", "scope")}


class CompanyNotificationForm(forms.Form):
    negative_alert_seconds = forms.IntegerField(
        label=_("Alert after this many seconds of an upset customer"),
        min_value=3,
        max_value=600,
        required=False,
        help_text=_(
            "During a session, anger, disgust or fear on the customer's face for this long in a row raises an "
            "alert. Empty: the default of %(default)s seconds."
        ),
    )
    digest = forms.ChoiceField(label=_("Digest"), choices=DigestFrequency.choices)

    def __init__(self, *args: Any, default_seconds: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["negative_alert_seconds"]
        field.help_text = str(field.help_text) % {"default": default_seconds}


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(
        label=_("Endpoint URL"),
        max_length=500,
        assume_scheme="https",
        help_text=_("An https:// address on the public internet; redirects are not followed."),
    )
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=[(t.value, t.label) for t in WEBHOOK_EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
    )


class WebhookEndpointEditForm(WebhookEndpointForm):
    enabled = forms.BooleanField(
        label=_("Enabled"),
        required=False,
        help_text=_(
            "Switching a disabled endpoint back on clears its failure count; cancelled messages are not re-sent."
        ),
    )
