"""Signup: create a new company (the signer becomes owner) or join through an invitation."""

from __future__ import annotations

from typing import Any

from allauth.core import context
from django import forms
from django.http import HttpRequest
from django.utils.translation import gettext, gettext_lazy

from accounts import actions
from accounts.exceptions import ActionError
from accounts.models import Invitation, User

PENDING_INVITATION_SESSION_KEY = "pending_invitation"


def pending_invitation(request: HttpRequest | None) -> tuple[str, Invitation | None] | None:
    """Return (secret, invitation) stashed by the invitation page, or None."""
    if request is None or not hasattr(request, "session"):
        return None
    secret = request.session.get(PENDING_INVITATION_SESSION_KEY)
    if not secret:
        return None
    return secret, actions.find_invitation(secret)


class CompanySignupForm(forms.Form):
    """Extra signup fields; allauth's SignupForm inherits from this class."""

    company_name = forms.CharField(
        max_length=200,
        required=False,
        label=gettext_lazy("Company name"),
        help_text=gettext_lazy(
            "A new company is created with you as its owner. Leave empty when joining by invitation."
        ),
    )

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        pending = pending_invitation(context.request)
        email = (cleaned.get("email") or "").lower()
        if pending is not None:
            _, invitation = pending
            try:
                actions.check_invitation(invitation)
            except ActionError as error:
                raise forms.ValidationError(error.message, code=error.code) from None
            assert invitation is not None
            if email and email != invitation.email.lower():
                self.add_error(
                    "email",
                    gettext("This invitation is for %(email)s; sign up with that address.")
                    % {"email": invitation.email},
                )
        elif not (cleaned.get("company_name") or "").strip():
            self.add_error(
                "company_name",
                gettext("Enter your company's name, or open your invitation link to join an existing company."),
            )
        return cleaned

    def signup(self, request: HttpRequest, user: User) -> None:
        """Called by allauth once the user row exists."""
        pending = pending_invitation(request)
        if pending is not None:
            secret, _ = pending
            actions.accept_invitation(secret=secret, user=user)
            del request.session[PENDING_INVITATION_SESSION_KEY]
        else:
            actions.create_company(name=self.cleaned_data["company_name"], owner=user)
