"""allauth adapter: e-mails arriving by invitation count as verified."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest

from accounts.forms import pending_invitation


class AccountAdapter(DefaultAccountAdapter):
    def is_email_verified(self, request: HttpRequest, email: str) -> bool:
        # Following an invitation link proves control of the invited address.
        pending = pending_invitation(request)
        if pending is not None and pending[1] is not None and pending[1].email.lower() == email.lower():
            return True
        return bool(super().is_email_verified(request, email))
