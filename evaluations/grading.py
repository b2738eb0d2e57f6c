"""Grading rules: pure functions from per-frame emotion evidence to a session grade.

Nothing here touches the database; callers turn observations into :class:`Frame` values.

Rules (docs/grading.md has worked examples):

1. Only the *primary face* of each frame counts: the largest box (ties: higher detection score).
   A frame is *usable* when its primary face has a detection score of at least
   ``rubric.min_face_score`` and none of the quality flags listed in ``rubric.exclude_flags``.
2. Letter grade: each usable frame votes for the group of its dominant emotion,
   A = happy/surprise, B = neutral, C = sad, D = fear/disgust, F = angry. The group with the most
   votes wins (plurality). Tie-break: among tied groups the one whose latest vote came last wins,
   because the end of an interaction matters most.
3. Satisfaction score 0-100: each usable frame scores ``sum(p[e] * weights[e])`` (weights are
   0-100 per emotion); frames are averaged with weight ``2 ** ((t - t_last) / half_life)``, so a
   frame one half-life before the latest frame counts half as much. ``half_life = 0`` means plain
   average.
4. Confidence 0-1 = (winner votes / usable frames) * min(1, usable frames / confident_frames).
   Fewer than ``min_usable_frames`` usable frames gives the outcome "insufficient evidence" with no
   letter.
5. Timeline: usable frames bucketed by ``interval_seconds`` from the session start, each bucket
   with its frame count, mean score, emotion counts and letter (same plurality rule).

The running grade of a live session is an accumulator (:class:`GradeState`, JSON-serialisable)
updated one frame at a time, so a long session never re-reads its observations; the final grade
is the same fold over all frames, so live and final grades agree exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from inference.classes import EMOTIONS
from inference.results import QUALITY_FLAGS, Face

LETTERS: tuple[str, ...] = ("A", "B", "C", "D", "F")
GROUP_OF_EMOTION: dict[str, str] = {
    "happy": "A",
    "surprise": "A",
    "neutral": "B",
    "sad": "C",
    "fear": "D",
    "disgust": "D",
    "angry": "F",
}
INSUFFICIENT = "insufficient_evidence"
GRADED = "graded"

DEFAULT_RUBRIC: dict[str, Any] = {
    "weights": {"happy": 100, "surprise": 70, "neutral": 55, "sad": 20, "fear": 15, "disgust": 10, "angry": 0},
    "recency_half_life_seconds": 120.0,
    "min_usable_frames": 5,
    "confident_frames": 30,
    "interval_seconds": 10.0,
    "min_face_score": 0.5,
    "exclude_flags": ["too_small", "too_dark", "blurred"],
}


class RubricError(ValueError):
    """A grading rubric is malformed; the message names the offending key."""


@dataclass(frozen=True)
class Rubric:
    """Company-configurable grading parameters. Build with :meth:`from_json` to validate."""

    weights: Mapping[str, float]
    recency_half_life_seconds: float
    min_usable_frames: int
    confident_frames: int
    interval_seconds: float
    min_face_score: float
    exclude_flags: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Rubric:
        """Validate ``data`` over the defaults: unknown keys and out-of-range values raise RubricError."""
        merged: dict[str, Any] = dict(DEFAULT_RUBRIC)
        if data:
            if not isinstance(data, Mapping):
                raise RubricError("rubric must be a JSON object")
            unknown = set(data) - set(DEFAULT_RUBRIC)
            if unknown:
                raise RubricError(f"unknown rubric keys: {', '.join(sorted(unknown))}")
            merged.update(data)
        weights = merged["weights"]
        if not isinstance(weights, Mapping) or set(weights) != set(EMOTIONS):
            raise RubricError(f"weights must give exactly these emotions: {', '.join(EMOTIONS)}")
        clean_weights: dict[str, float] = {}
        for emotion in EMOTIONS:
            value = weights[emotion]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
                raise RubricError(f"weights.{emotion} must be a number from 0 to 100")
            clean_weights[emotion] = float(value)
        flags = merged["exclude_flags"]
        if not isinstance(flags, (list, tuple)) or not all(isinstance(f, str) for f in flags):
            raise RubricError("exclude_flags must be a list of strings")
        return cls(
            weights=clean_weights,
            recency_half_life_seconds=_number(merged, "recency_half_life_seconds", 0, 86_400),
            min_usable_frames=int(_number(merged, "min_usable_frames", 1, 100_000, integer=True)),
            confident_frames=int(_number(merged, "confident_frames", 1, 100_000, integer=True)),
            interval_seconds=_number(merged, "interval_seconds", 0.5, 86_400),
            min_face_score=_number(merged, "min_face_score", 0, 1),
            exclude_flags=tuple(sorted(set(flags))),
        )

    def to_json(self) -> dict[str, Any]:
        """Return the canonical JSON form (every key, sorted flags)."""
        return {
            "weights": {e: self.weights[e] for e in EMOTIONS},
            "recency_half_life_seconds": self.recency_half_life_seconds,
            "min_usable_frames": self.min_usable_frames,
            "confident_frames": self.confident_frames,
            "interval_seconds": self.interval_seconds,
            "min_face_score": self.min_face_score,
            "exclude_flags": list(self.exclude_flags),
        }

    def fingerprint(self) -> str:
        """Return a stable hash of the canonical form: equal rubrics share one version."""
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def check_rubric(data: Any) -> None:
    """Raise :class:`RubricError` unless ``data`` is a valid rubric (the company setting's check).

    Stricter than :meth:`Rubric.from_json` on one point: ``exclude_flags`` may name only the quality
    flags the detector sets. A rubric saved before this check keeps grading as it did.
    """
    Rubric.from_json(data)
    if isinstance(data, Mapping) and isinstance(data.get("exclude_flags"), (list, tuple)):
        unknown = set(data["exclude_flags"]) - set(QUALITY_FLAGS)
        if unknown:
            raise RubricError(
                f"exclude_flags may only name {', '.join(QUALITY_FLAGS)}; not {', '.join(sorted(map(str, unknown)))}"
            )


def _json_number(low: float, high: float, *, integer: bool = False) -> dict[str, Any]:
    return {"type": "integer" if integer else "number", "minimum": low, "maximum": high}


# What check_rubric accepts, as JSON Schema (the company API documents the setting with it).
RUBRIC_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The company's grading rubric; keys left out keep their defaults (docs/grading.md).",
    "additionalProperties": False,
    "properties": {
        "weights": {
            "type": "object",
            "description": "Satisfaction weight of each emotion, 0-100.",
            "properties": {emotion: _json_number(0, 100) for emotion in EMOTIONS},
            "required": list(EMOTIONS),
            "additionalProperties": False,
        },
        "recency_half_life_seconds": _json_number(0, 86_400),
        "min_usable_frames": _json_number(1, 100_000, integer=True),
        "confident_frames": _json_number(1, 100_000, integer=True),
        "interval_seconds": _json_number(0.5, 86_400),
        "min_face_score": _json_number(0, 1),
        "exclude_flags": {"type": "array", "items": {"type": "string", "enum": list(QUALITY_FLAGS)}},
    },
}


def _number(data: Mapping[str, Any], key: str, low: float, high: float, *, integer: bool = False) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RubricError(f"{key} must be a number")
    if integer and value != int(value):
        raise RubricError(f"{key} must be a whole number")
    if not low <= value <= high:
        raise RubricError(f"{key} must be between {low:g} and {high:g}")
    return float(value)


@dataclass(frozen=True)
class Frame:
    """One analysed frame: its sequence number, seconds since the session started, and faces."""

    sequence: int
    offset_seconds: float
    faces: tuple[Face, ...]


def primary_face_index(faces: Sequence[Face]) -> int | None:
    """Return the index of the primary face: the largest box, then the higher detection score."""
    if not faces:
        return None
    return max(range(len(faces)), key=lambda i: (faces[i].area, faces[i].score, -i))


def is_usable(face: Face, rubric: Rubric) -> bool:
    """Whether ``face`` may vote: confident detection and no excluded quality flag."""
    return face.score >= rubric.min_face_score and not set(face.quality.flags()) & set(rubric.exclude_flags)


def frame_score(probabilities: Sequence[float], rubric: Rubric) -> float:
    """Return the 0-100 satisfaction of one face: the probability-weighted emotion weights."""
    total = sum(probabilities)
    if total <= 0:
        raise ValueError("probabilities must have a positive sum")
    # Renormalise: probabilities stored as rounded floats may not sum to exactly 1.
    return sum(p * rubric.weights[e] for p, e in zip(probabilities, EMOTIONS, strict=True)) / total


def plurality(group_counts: Mapping[str, int], group_last: Mapping[str, float]) -> str | None:
    """Return the letter with most votes; ties go to the group whose latest vote came last.

    Two groups cannot share a latest vote (one frame votes once) unless offsets coincide; then the
    worse letter wins, so a tie never flatters the agent.
    """
    best: tuple[int, float, int] | None = None
    winner: str | None = None
    for rank, letter in enumerate(LETTERS):
        count = group_counts.get(letter, 0)
        if count <= 0:
            continue
        key = (count, group_last.get(letter, -math.inf), rank)
        if best is None or key > best:
            best, winner = key, letter
    return winner


@dataclass
class GradeState:
    """Running accumulator of a session's grade; JSON round-trips through :meth:`to_json`.

    The recency-weighted score is kept relative to the latest frame (``t_ref``): when a later frame
    arrives the sums are scaled down by ``2 ** (-dt / half_life)``. Sums stay bounded however long
    the session runs, and the result equals weighting by ``2 ** ((t - t_last) / half_life)``.
    """

    frames: int = 0
    usable: int = 0
    emotion_counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EMOTIONS, 0))
    group_counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LETTERS, 0))
    group_last: dict[str, float] = field(default_factory=dict)
    weighted_score: float = 0.0
    weight: float = 0.0
    t_ref: float | None = None
    buckets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, frame: Frame, rubric: Rubric) -> None:
        """Fold one frame in (steps: pick primary face, check usable, vote, score, bucket)."""
        self.frames += 1
        index = primary_face_index(frame.faces)
        if index is None or not is_usable(frame.faces[index], rubric):
            return
        face = frame.faces[index]
        t = frame.offset_seconds
        letter = GROUP_OF_EMOTION[face.dominant]
        score = frame_score(face.probabilities, rubric)
        self.usable += 1
        self.emotion_counts[face.dominant] += 1
        self.group_counts[letter] += 1
        self.group_last[letter] = max(self.group_last.get(letter, -math.inf), t)

        half_life = rubric.recency_half_life_seconds
        if half_life <= 0:
            weight = 1.0
        elif self.t_ref is None:
            self.t_ref, weight = t, 1.0
        elif t > self.t_ref:
            decay = 2.0 ** (-(t - self.t_ref) / half_life)
            self.weighted_score *= decay
            self.weight *= decay
            self.t_ref, weight = t, 1.0
        else:
            weight = 2.0 ** (-(self.t_ref - t) / half_life)
        self.weighted_score += weight * score
        self.weight += weight

        key = str(max(0, int(t // rubric.interval_seconds)))
        bucket = self.buckets.setdefault(
            key, {"frames": 0, "score_sum": 0.0, "emotions": dict.fromkeys(EMOTIONS, 0), "group_last": {}}
        )
        bucket["frames"] += 1
        bucket["score_sum"] += score
        bucket["emotions"][face.dominant] += 1
        bucket["group_last"][letter] = max(bucket["group_last"].get(letter, -math.inf), t)

    def to_json(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "usable": self.usable,
            "emotion_counts": dict(self.emotion_counts),
            "group_counts": dict(self.group_counts),
            "group_last": dict(self.group_last),
            "weighted_score": self.weighted_score,
            "weight": self.weight,
            "t_ref": self.t_ref,
            "buckets": self.buckets,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> GradeState:
        if not data:
            return cls()
        return cls(
            frames=int(data["frames"]),
            usable=int(data["usable"]),
            emotion_counts={e: int(data["emotion_counts"].get(e, 0)) for e in EMOTIONS},
            group_counts={g: int(data["group_counts"].get(g, 0)) for g in LETTERS},
            group_last={g: float(v) for g, v in data["group_last"].items()},
            weighted_score=float(data["weighted_score"]),
            weight=float(data["weight"]),
            t_ref=None if data["t_ref"] is None else float(data["t_ref"]),
            buckets={k: dict(v) for k, v in data["buckets"].items()},
        )


@dataclass(frozen=True)
class Grade:
    """A session's grade: the stored snapshot and the API's ``grade`` object."""

    outcome: str  # GRADED or INSUFFICIENT
    letter: str | None
    score: float | None
    confidence: float
    frames: int
    usable_frames: int
    emotion_counts: dict[str, int]
    emotion_shares: dict[str, float]
    group_counts: dict[str, int]
    timeline: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "letter": self.letter,
            "score": self.score,
            "confidence": self.confidence,
            "frames": self.frames,
            "usable_frames": self.usable_frames,
            "emotion_counts": self.emotion_counts,
            "emotion_shares": self.emotion_shares,
            "group_counts": self.group_counts,
            "timeline": self.timeline,
        }


def summarize(state: GradeState, rubric: Rubric) -> Grade:
    """Turn an accumulator into a :class:`Grade`."""
    usable = state.usable
    shares = {e: round(state.emotion_counts[e] / usable, 4) if usable else 0.0 for e in EMOTIONS}
    score = round(state.weighted_score / state.weight, 2) if state.weight > 0 else None
    timeline = []
    for key in sorted(state.buckets, key=int):
        bucket = state.buckets[key]
        counts = {g: 0 for g in LETTERS}
        for emotion, n in bucket["emotions"].items():
            counts[GROUP_OF_EMOTION[emotion]] += n
        timeline.append(
            {
                "start_seconds": int(key) * rubric.interval_seconds,
                "end_seconds": (int(key) + 1) * rubric.interval_seconds,
                "frames": bucket["frames"],
                "score": round(bucket["score_sum"] / bucket["frames"], 2),
                "letter": plurality(counts, bucket["group_last"]),
                "emotion_counts": dict(bucket["emotions"]),
            }
        )
    winner = plurality(state.group_counts, state.group_last)
    if usable < rubric.min_usable_frames or winner is None:
        outcome, letter = INSUFFICIENT, None
        confidence = 0.0
    else:
        outcome, letter = GRADED, winner
        agreement = state.group_counts[winner] / usable
        evidence = min(1.0, usable / rubric.confident_frames)
        confidence = round(agreement * evidence, 3)
    return Grade(
        outcome=outcome,
        letter=letter,
        score=score,
        confidence=confidence,
        frames=state.frames,
        usable_frames=usable,
        emotion_counts=dict(state.emotion_counts),
        emotion_shares=shares,
        group_counts=dict(state.group_counts),
        timeline=timeline,
    )


def grade_frames(frames: Iterable[Frame], rubric: Rubric) -> Grade:
    """Grade a whole sequence of frames at once (the same fold the live accumulator does)."""
    state = GradeState()
    for frame in sorted(frames, key=lambda f: (f.offset_seconds, f.sequence)):
        state.add(frame, rubric)
    return summarize(state, rubric)


RECOVERED = "recovered"
STEADY = "steady"
DETERIORATED = "deteriorated"
TRAJECTORY_DELTA = 15.0
"""Score points between the start and the end of a session that count as a change of mood."""


@dataclass(frozen=True)
class Trajectory:
    """How the customer's satisfaction moved from the start of the session to its end."""

    kind: str  # RECOVERED, STEADY or DETERIORATED
    start_score: float
    end_score: float

    @property
    def delta(self) -> float:
        return round(self.end_score - self.start_score, 2)


def trajectory(timeline: Sequence[Mapping[str, Any]]) -> Trajectory | None:
    """Compare the start of a graded session with its end (None with fewer than two timeline buckets).

    Steps:
    1. Take the timeline's buckets (usable frames only) in time order; ``k = ceil(n / 3)``.
    2. Start score: the frame-weighted mean score of the first ``k`` buckets; end score: of the
       last ``k`` buckets (with two buckets, the first and the last).
    3. End minus start of at least ``TRAJECTORY_DELTA`` points is "recovered", at most minus that
       is "deteriorated", anything between is "steady".
    """
    buckets = [b for b in timeline if b.get("frames")]
    if len(buckets) < 2:
        return None
    k = math.ceil(len(buckets) / 3)

    def mean(part: Sequence[Mapping[str, Any]]) -> float:
        frames = sum(int(b["frames"]) for b in part)
        return round(sum(float(b["score"]) * int(b["frames"]) for b in part) / frames, 2)

    start, end = mean(buckets[:k]), mean(buckets[-k:])
    if end - start >= TRAJECTORY_DELTA:
        kind = RECOVERED
    elif start - end >= TRAJECTORY_DELTA:
        kind = DETERIORATED
    else:
        kind = STEADY
    return Trajectory(kind=kind, start_score=start, end_score=end)
