"""Template helpers of the PDF reports."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.filter
def breakable_email(email: str | None) -> SafeString | str:
    """An e-mail address that wraps before its "@" in a narrow table column, not mid-word."""
    if not email or "@" not in email:
        return email or ""
    local, domain = email.rsplit("@", 1)
    return format_html("{}<wbr>@{}", local, domain)
