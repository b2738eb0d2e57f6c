"""Server-side SVG charts: the same markup on the pages and in the PDF reports.

One implementation for both: the pages inline the SVG, WeasyPrint renders the same SVG into the
PDF. Each chart is a plain function from numbers to an SVG string (no JavaScript, no fonts to
load), with a ``<title>`` and ``<desc>`` for screen readers; pages also show the numbers in a
table. Colours follow the grade letters everywhere (A green ... F red) and pass WCAG contrast
against white for the marks that carry meaning.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from django.utils.safestring import SafeString, mark_safe

LETTER_COLOURS = {
    "A": "#1e7b34",
    "B": "#2458c6",
    "C": "#8a6d00",
    "D": "#b35c00",
    "F": "#b3261e",
    "insufficient": "#8a93a3",
}
EMOTION_COLOURS = {
    "happy": "#1e7b34",
    "surprise": "#3d8f5a",
    "neutral": "#2458c6",
    "sad": "#8a6d00",
    "fear": "#b35c00",
    "disgust": "#7a4a9e",
    "angry": "#b3261e",
}
INK = "#1d2330"
MUTED = "#5b6475"
GRID = "#d9dee7"
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="13"'


@dataclass(frozen=True)
class Box:
    width: int = 640
    height: int = 220
    left: int = 36
    right: int = 12
    top: int = 12
    bottom: int = 28

    @property
    def inner_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def inner_height(self) -> float:
        return self.height - self.top - self.bottom

    def y_of(self, value: float, low: float = 0.0, high: float = 100.0) -> float:
        return self.top + self.inner_height * (1 - (value - low) / (high - low))


def _svg(box: Box, title: str, description: str, body: list[str]) -> SafeString:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {box.width} {box.height}" '
        f'width="100%" role="img" class="chart" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>"
    )
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308  (every text part is escaped above)


def _score_grid(box: Box) -> list[str]:
    parts = []
    for value in (0, 25, 50, 75, 100):
        y = box.y_of(value)
        parts.append(
            f'<line x1="{box.left}" x2="{box.width - box.right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{box.left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}" {FONT}>{value}</text>'
        )
    return parts


def _x_labels(box: Box, labels: Sequence[str], xs: Sequence[float]) -> list[str]:
    if not labels:
        return []
    step = max(1, round(len(labels) / 8))  # at most about eight labels
    shown = [i for i in range(len(labels)) if i % step == 0]
    if shown[-1] != len(labels) - 1:
        # Always label the latest bucket; it replaces the label before it when the two would overlap.
        if len(labels) - 1 - shown[-1] < 0.75 * step and len(shown) > 1:
            shown.pop()
        shown.append(len(labels) - 1)
    return [
        f'<text x="{xs[i]:.1f}" y="{box.height - 8}" text-anchor="middle" fill="{MUTED}" {FONT}>{escape(labels[i])}</text>'
        for i in shown
    ]


def score_line(
    labels: Sequence[str], scores: Sequence[float | None], *, title: str, description: str, box: Box | None = None
) -> SafeString:
    """Average score (0-100) per period bucket; a gap where a bucket has no graded session."""
    box = box or Box()
    n = len(scores)
    xs = [box.left + (box.inner_width * (i + 0.5) / n if n else 0) for i in range(n)]
    parts = _score_grid(box)
    segment: list[str] = []
    segments: list[list[str]] = []
    for x, score in zip(xs, scores, strict=True):
        if score is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x:.1f},{box.y_of(score):.1f}")
        parts.append(f'<circle cx="{x:.1f}" cy="{box.y_of(score):.1f}" r="2.5" fill="{LETTER_COLOURS["B"]}"/>')
    if segment:
        segments.append(segment)
    for points in segments:
        parts.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{LETTER_COLOURS["B"]}" stroke-width="2"/>'
        )
    parts += _x_labels(box, labels, xs)
    return _svg(box, title, description, parts)


def stacked_bars(
    labels: Sequence[str],
    series: Sequence[Mapping[str, int]],
    keys: Sequence[str],
    *,
    title: str,
    description: str,
    box: Box | None = None,
) -> SafeString:
    """Share of each key per bucket (e.g. the grade mix per day), as 100% stacked bars."""
    box = box or Box(left=44)  # room for "100%"
    n = len(series)
    slot = box.inner_width / n if n else 0
    width = max(1.0, slot * 0.8)
    parts = []
    for value in (0, 50, 100):
        y = box.y_of(value)
        parts.append(
            f'<line x1="{box.left}" x2="{box.width - box.right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{box.left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}" {FONT}>{value}%</text>'
        )
    xs = []
    for i, counts in enumerate(series):
        x = box.left + slot * i + (slot - width) / 2
        xs.append(x + width / 2)
        total = sum(counts.get(k, 0) for k in keys)
        if not total:
            continue
        lower = 0.0  # stack from the bottom of the chart up
        for key in keys:
            share = 100.0 * counts.get(key, 0) / total
            if share <= 0:
                continue
            upper = lower + share
            y_top, y_bottom = box.y_of(upper), box.y_of(lower)
            parts.append(
                f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{width:.1f}" height="{y_bottom - y_top:.1f}" '
                f'fill="{LETTER_COLOURS.get(key, EMOTION_COLOURS.get(key, MUTED))}"/>'
            )
            lower = upper
    parts += _x_labels(box, labels, xs)
    return _svg(box, title, description, parts)


def timeline(
    buckets: Sequence[Mapping[str, object]],
    *,
    title: str,
    description: str,
    box: Box | None = None,
    labels: Mapping[str, str] | None = None,
) -> SafeString:
    """A session's score over time, with a band under it coloured by each bucket's dominant emotion.

    ``buckets`` are grading timeline buckets: ``start_seconds``, ``end_seconds``, ``score`` and
    ``emotion_counts``. ``labels`` name the emotions in the band's tooltips (the reader's language).
    """
    labels = labels or {}
    box = box or Box(width=960, height=230, bottom=52)
    end = max((float(str(b["end_seconds"])) for b in buckets), default=1.0) or 1.0
    band_y = box.height - box.bottom + 6
    parts = _score_grid(box)
    points = []
    for bucket in buckets:
        start, stop = float(str(bucket["start_seconds"])), float(str(bucket["end_seconds"]))
        x0 = box.left + box.inner_width * start / end
        x1 = box.left + box.inner_width * min(stop, end) / end
        score = float(str(bucket["score"]))
        points.append(f"{(x0 + x1) / 2:.1f},{box.y_of(score):.1f}")
        counts = bucket.get("emotion_counts") or {}
        assert isinstance(counts, Mapping)
        dominant = max(counts, key=lambda e: counts[e]) if any(counts.values()) else None
        if dominant:
            parts.append(
                f'<rect x="{x0:.1f}" y="{band_y}" width="{max(1.0, x1 - x0):.1f}" height="12" '
                f'fill="{EMOTION_COLOURS[dominant]}"><title>{escape(labels.get(dominant, dominant))}</title></rect>'
            )
    if points:
        parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{INK}" stroke-width="2"/>')
        for point in points:
            x, y = point.split(",")
            parts.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{INK}"/>')
    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        seconds = end * fraction
        tick = box.left + box.inner_width * fraction
        label = f"{int(seconds // 60)}:{int(seconds % 60):02d}"
        anchor = "start" if fraction == 0.0 else "end" if fraction == 1.0 else "middle"  # stay inside the box
        parts.append(
            f'<text x="{tick:.1f}" y="{box.height - 8}" text-anchor="{anchor}" fill="{MUTED}" {FONT}>{label}</text>'
        )
    return _svg(box, title, description, parts)


def horizontal_bars(
    values: Mapping[str, float],
    labels: Mapping[str, str],
    *,
    title: str,
    description: str,
    colours: Mapping[str, str] | None = None,
) -> SafeString:
    """Shares (0-1) as labelled horizontal bars (e.g. emotion shares of a session)."""
    colours = colours or EMOTION_COLOURS
    row = 22
    box = Box(width=380, height=row * len(values) + 8, left=80, right=44, top=4, bottom=4)
    parts = []
    for i, (key, value) in enumerate(values.items()):
        y = box.top + i * row
        width = box.inner_width * max(0.0, min(1.0, value))
        parts.append(
            f'<text x="{box.left - 8}" y="{y + 14}" text-anchor="end" fill="{INK}" {FONT}>{escape(labels.get(key, key))}</text>'
            f'<rect x="{box.left}" y="{y + 4}" width="{width:.1f}" height="12" rx="2" fill="{colours.get(key, MUTED)}"/>'
            f'<text x="{box.left + width + 6:.1f}" y="{y + 14}" fill="{INK}" {FONT}>{value * 100:.0f}%</text>'
        )
    return _svg(box, title, description, parts)


MAX_DOTS_PER_ANSWER = 120


def _quantiles(values: list[float], count: int) -> list[float]:
    """``count`` evenly spaced order statistics of sorted ``values`` (first and last included)."""
    return [values[round(i * (len(values) - 1) / (count - 1))] for i in range(count)]


def score_by_csat(points: Sequence[tuple[int, float]], *, title: str, description: str) -> SafeString:
    """Our score (y, 0-100) of each answered session against its CSAT answer (x, 1-5), jittered.

    An answer with more than ``MAX_DOTS_PER_ANSWER`` sessions shows that many evenly spaced
    quantiles of its scores instead of every session: the same distribution in a bounded drawing
    (a large company's 90 days hold thousands of answers, and every dot costs the page and the
    PDF renderer alike).
    """
    box = Box(height=240)
    parts = _score_grid(box)
    slot = box.inner_width / 5
    xs = [box.left + slot * (c - 0.5) for c in range(1, 6)]
    shown: list[tuple[int, float]] = []
    for answer in range(1, 6):
        scores = sorted(score for csat, score in points if csat == answer)
        if len(scores) > MAX_DOTS_PER_ANSWER:
            scores = _quantiles(scores, MAX_DOTS_PER_ANSWER)
        shown += [(answer, score) for score in scores]
    # Seeded: the same data draws the same chart, on the page and in the PDF (no security use).
    spread = random.Random(len(shown))  # noqa: S311
    for csat, score in shown:
        jitter = spread.uniform(-1.0, 1.0) * slot * 0.25
        parts.append(
            f'<circle cx="{xs[csat - 1] + jitter:.1f}" cy="{box.y_of(score):.1f}" r="3" '
            f'fill="{LETTER_COLOURS["B"]}" fill-opacity="0.55"/>'
        )
    parts += _x_labels(box, [f"CSAT {c}" for c in range(1, 6)], xs)
    return _svg(box, title, description, parts)
