"""Small filters for notification e-mails and pages."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext_lazy as _

register = template.Library()

LETTER_COLOURS = {"A": "#1e7b34", "B": "#2458c6", "C": "#8a6d00", "D": "#b35c00", "F": "#b3261e"}
EMOTION_NAMES = {
    "angry": _("angry"),
    "disgust": _("disgust"),
    "fear": _("fear"),
    "happy": _("happy"),
    "sad": _("sad"),
    "surprise": _("surprise"),
    "neutral": _("neutral"),
}


@register.filter
def letter_colour(letter: str | None) -> str:
    """Background colour of a grade letter (e-mails cannot use the site's stylesheet)."""
    return LETTER_COLOURS.get(letter or "", "#6b7383")


@register.filter
def clock(seconds: Any) -> str:
    """Seconds into a session as m:ss (or h:mm:ss)."""
    try:
        total = max(0, int(float(seconds)))
    except (TypeError, ValueError):
        return "-"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@register.filter
def emotion_names(emotions: Any) -> str:
    """The (translated) names of a ``{"angry": 3, ...}`` mapping's keys, most frequent first."""
    if not isinstance(emotions, dict):
        return ""
    ordered = sorted(emotions, key=lambda e: -int(emotions[e]))
    return ", ".join(str(EMOTION_NAMES.get(e, e)) for e in ordered)
