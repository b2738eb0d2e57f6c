"""Template helpers of the portal: percentages, dictionary look-ups, change badges."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import template
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def pct(value: float | None) -> str:
    """0.1234 -> "12.3" ("12,3" in Spanish; no sign), an en dash for None."""
    if value is None:
        return "\u2013"
    return str(number_format(Decimal(f"{100 * value:.1f}".rstrip("0").rstrip("."))))


@register.filter
def get(mapping: Mapping[str, Any] | None, key: str) -> Any:
    return (mapping or {}).get(key)


@register.simple_tag
def change_badge(value: float | None, kind: str, inverse: bool = False) -> SafeString:
    """The change against the previous period, green when it is good news, red when bad.

    ``kind``: "count" (sessions), "points" (score) or "share" (a 0-1 share shown in points of %).
    ``inverse``: a rise is bad news (D/F share, insufficient evidence).
    """
    if value is None:
        return format_html('<span class="delta">{}</span>', _("no comparison"))
    shown = 100 * value if kind == "share" else value
    if round(shown, 1) == 0:
        return format_html('<span class="delta">{}</span>', _("no change vs previous period"))
    good = (shown > 0) != inverse
    unit = {"count": "", "points": " " + _("pts"), "share": " " + _("pp")}[kind]
    number = f"{shown:+.0f}" if kind == "count" else f"{shown:+.1f}"
    number = number[0] + str(number_format(Decimal(number[1:])))  # the reader's decimal mark
    return format_html(
        '<span class="delta {}">{}{} <span class="hint">{}</span></span>',
        "good" if good else "bad",
        number,
        unit,
        _("vs previous period"),
    )
