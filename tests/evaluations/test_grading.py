"""Unit tests of the pure grading rules (no database)."""

from __future__ import annotations

import random

import pytest

from evaluations.grading import (
    DEFAULT_RUBRIC,
    EMOTIONS,
    GRADED,
    INSUFFICIENT,
    Frame,
    GradeState,
    Rubric,
    RubricError,
    frame_score,
    grade_frames,
    is_usable,
    plurality,
    primary_face_index,
    summarize,
)
from inference.results import Face, Quality

RUBRIC = Rubric.from_json(None)


def one_hot(emotion: str, confidence: float = 1.0) -> tuple[float, ...]:
    rest = (1.0 - confidence) / (len(EMOTIONS) - 1)
    return tuple(confidence if e == emotion else rest for e in EMOTIONS)


def face(emotion: str, *, size: int = 100, score: float = 0.9, flags: tuple[str, ...] = ()) -> Face:
    return Face(box=(0, 0, size, size), score=score, probabilities=one_hot(emotion), quality=Quality.from_flags(flags))


def frames_of(*emotions: str, step: float = 1.0) -> list[Frame]:
    return [Frame(sequence=i, offset_seconds=i * step, faces=(face(e),)) for i, e in enumerate(emotions)]


def rubric(**overrides: object) -> Rubric:
    return Rubric.from_json({**DEFAULT_RUBRIC, **overrides})


class TestLetter:
    @pytest.mark.parametrize(
        ("emotions", "letter"),
        [
            (["happy"] * 3 + ["surprise"] * 3 + ["neutral"] * 4, "A"),
            (["neutral"] * 5 + ["happy"] * 2 + ["angry"] * 2, "B"),
            (["sad"] * 5 + ["neutral"] * 2, "C"),
            (["fear"] * 3 + ["disgust"] * 3 + ["angry"] * 4, "D"),
            (["angry"] * 5 + ["sad"] * 4, "F"),
        ],
    )
    def test_it_grades_by_plurality_over_the_five_groups(self, emotions: list[str], letter: str) -> None:
        assert grade_frames(frames_of(*emotions), RUBRIC).letter == letter

    def test_it_counts_surprise_with_happy_so_the_group_beats_a_larger_single_emotion(self) -> None:
        # 3 happy + 3 surprise = 6 votes for A, against 5 for neutral.
        emotions = ["happy"] * 3 + ["surprise"] * 3 + ["neutral"] * 5
        grade = grade_frames(frames_of(*emotions), RUBRIC)
        assert grade.letter == "A"
        assert grade.group_counts == {"A": 6, "B": 5, "C": 0, "D": 0, "F": 0}

    def test_it_breaks_a_tie_in_favour_of_the_group_that_voted_last(self) -> None:
        assert grade_frames(frames_of(*(["angry"] * 3 + ["happy"] * 3)), RUBRIC).letter == "A"
        assert grade_frames(frames_of(*(["happy"] * 3 + ["angry"] * 3)), RUBRIC).letter == "F"

    def test_it_breaks_a_tie_with_simultaneous_last_votes_towards_the_worse_letter(self) -> None:
        assert plurality({"A": 2, "C": 2}, {"A": 5.0, "C": 5.0}) == "C"

    def test_it_ignores_groups_without_votes(self) -> None:
        assert plurality({"A": 0, "B": 0}, {}) is None


class TestUsableFrames:
    def test_it_grades_only_the_largest_face_of_each_frame(self) -> None:
        frames = [
            Frame(sequence=i, offset_seconds=float(i), faces=(face("angry", size=40), face("happy", size=120)))
            for i in range(6)
        ]
        grade = grade_frames(frames, RUBRIC)
        assert grade.letter == "A"
        assert grade.emotion_counts["angry"] == 0

    def test_it_prefers_the_higher_detection_score_between_equal_sized_faces(self) -> None:
        faces = (face("angry", score=0.6), face("happy", score=0.95))
        assert primary_face_index(faces) == 1

    def test_it_skips_frames_whose_primary_face_is_flagged_or_weakly_detected(self) -> None:
        frames = [
            Frame(0, 0.0, (face("angry", flags=("too_dark",)),)),
            Frame(1, 1.0, (face("angry", score=0.2),)),
            Frame(2, 2.0, ()),
            Frame(3, 3.0, (face("happy", flags=("partly_outside",)),)),
        ]
        grade = grade_frames(frames, rubric(min_usable_frames=1))
        assert (grade.frames, grade.usable_frames, grade.letter) == (4, 1, "A")

    def test_it_respects_the_company_list_of_excluded_flags(self) -> None:
        flagged = face("happy", flags=("too_dark",))
        assert not is_usable(flagged, RUBRIC)
        assert is_usable(flagged, rubric(exclude_flags=[]))


class TestEvidence:
    def test_it_reports_insufficient_evidence_below_the_minimum_of_usable_frames(self) -> None:
        grade = grade_frames(frames_of("happy", "happy", "happy", "happy"), RUBRIC)
        assert grade.outcome == INSUFFICIENT
        assert grade.letter is None
        assert grade.confidence == 0.0
        # The score is still shown, so a supervisor sees what little there is.
        assert grade.score == 100.0

    def test_it_reports_insufficient_evidence_for_a_session_without_faces(self) -> None:
        grade = grade_frames([Frame(i, float(i), ()) for i in range(10)], RUBRIC)
        assert (grade.outcome, grade.score, grade.frames, grade.usable_frames) == (INSUFFICIENT, None, 10, 0)

    def test_its_confidence_grows_with_agreement_and_evidence(self) -> None:
        unanimous_short = grade_frames(frames_of(*["happy"] * 15), RUBRIC)
        unanimous_long = grade_frames(frames_of(*["happy"] * 60), RUBRIC)
        split_long = grade_frames(frames_of(*(["neutral"] * 30 + ["happy"] * 30)), RUBRIC)
        assert unanimous_short.outcome == GRADED
        assert unanimous_short.confidence == 0.5  # 1.0 agreement * 15/30 evidence
        assert unanimous_long.confidence == 1.0
        assert split_long.confidence == 0.5  # 30/60 agreement * full evidence


class TestScore:
    def test_it_weights_each_emotion_probability(self) -> None:
        probabilities = [0.0] * 7
        probabilities[EMOTIONS.index("happy")] = 0.5
        probabilities[EMOTIONS.index("neutral")] = 0.5
        assert frame_score(probabilities, RUBRIC) == pytest.approx((100 + 55) / 2)

    def test_it_renormalises_probabilities_that_do_not_sum_to_one(self) -> None:
        halves = [0.0] * 7
        halves[EMOTIONS.index("happy")] = 0.25
        halves[EMOTIONS.index("angry")] = 0.25
        assert frame_score(halves, RUBRIC) == pytest.approx(50.0)

    def test_it_lets_the_end_of_the_interaction_weigh_more(self) -> None:
        # Angry for 120 s, then happy for 120 s: a plain mean is 50; with a 60 s half-life the happy
        # half carries (1 - 2**-2) / (1 - 2**-4) = 80 % of the weight.
        frames = frames_of(*(["angry"] * 120 + ["happy"] * 120))
        recent = grade_frames(frames, rubric(recency_half_life_seconds=60))
        flat = grade_frames(frames, rubric(recency_half_life_seconds=0))
        assert flat.score == pytest.approx(50.0, abs=0.01)
        assert recent.score == pytest.approx(80.0, abs=0.5)

    def test_a_frame_one_half_life_earlier_weighs_half_as_much(self) -> None:
        frames = [Frame(0, 0.0, (face("angry"),)), Frame(1, 10.0, (face("happy"),))]
        grade = grade_frames(frames, rubric(recency_half_life_seconds=10, min_usable_frames=1))
        # (0.5 * 0 + 1 * 100) / 1.5
        assert grade.score == pytest.approx(66.67, abs=0.01)

    def test_it_gives_the_same_grade_whatever_order_frames_arrive_in(self) -> None:
        frames = frames_of(*random.Random(7).choices(list(EMOTIONS), k=200), step=0.7)
        shuffled = frames[:]
        random.Random(8).shuffle(shuffled)
        state = GradeState()
        for frame in shuffled:
            state.add(frame, RUBRIC)
        live = summarize(state, RUBRIC)
        final = grade_frames(frames, RUBRIC)
        assert live.letter == final.letter
        assert live.score == pytest.approx(final.score, abs=0.01)
        assert live.timeline == final.timeline

    def test_its_running_sums_stay_finite_over_a_day_long_session(self) -> None:
        frames = [Frame(i, i * 60.0, (face("happy"),)) for i in range(24 * 60)]
        grade = grade_frames(frames, rubric(recency_half_life_seconds=1))
        assert grade.score == 100.0


class TestCountsAndTimeline:
    def test_it_counts_emotions_and_their_shares(self) -> None:
        grade = grade_frames(
            frames_of("happy", "happy", "sad", "neutral", "neutral", "neutral", "angry", "fear"), RUBRIC
        )
        assert grade.emotion_counts == {
            "angry": 1, "disgust": 0, "fear": 1, "happy": 2, "sad": 1, "surprise": 0, "neutral": 3,
        }  # fmt: skip
        assert grade.emotion_shares["neutral"] == 0.375
        assert sum(grade.emotion_shares.values()) == pytest.approx(1.0)

    def test_it_builds_a_timeline_per_interval(self) -> None:
        frames = frames_of(*(["angry"] * 10 + ["happy"] * 10 + ["neutral"] * 5), step=1.0)
        timeline = grade_frames(frames, rubric(interval_seconds=10)).timeline
        assert [(b["start_seconds"], b["frames"], b["letter"], b["score"]) for b in timeline] == [
            (0.0, 10, "F", 0.0),
            (10.0, 10, "A", 100.0),
            (20.0, 5, "B", 55.0),
        ]

    def test_its_state_round_trips_through_json(self) -> None:
        state = GradeState()
        for frame in frames_of("happy", "sad", "angry", "neutral", "happy", "happy"):
            state.add(frame, RUBRIC)
        restored = GradeState.from_json(state.to_json())
        assert summarize(restored, RUBRIC) == summarize(state, RUBRIC)


class TestRubric:
    def test_it_fills_missing_keys_from_the_defaults(self) -> None:
        assert Rubric.from_json({"min_usable_frames": 3}).to_json() == {
            **Rubric.from_json(None).to_json(),
            "min_usable_frames": 3,
        }

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({"colour": "red"}, "unknown rubric keys: colour"),
            ({"weights": {"happy": 100}}, "weights must give exactly these emotions"),
            ({"weights": {**DEFAULT_RUBRIC["weights"], "angry": 150}}, "weights.angry must be a number from 0 to 100"),
            ({"min_usable_frames": 0}, "min_usable_frames must be between 1 and"),
            ({"min_usable_frames": 2.5}, "min_usable_frames must be a whole number"),
            ({"interval_seconds": "ten"}, "interval_seconds must be a number"),
            ({"exclude_flags": "too_dark"}, "exclude_flags must be a list of strings"),
        ],
    )
    def test_it_rejects_a_malformed_rubric_naming_the_key(self, data: dict[str, object], message: str) -> None:
        with pytest.raises(RubricError, match=message):
            Rubric.from_json(data)

    def test_equal_rubrics_share_a_fingerprint_and_different_ones_do_not(self) -> None:
        a = Rubric.from_json({"exclude_flags": ["blurred", "too_dark", "too_small"]})
        b = Rubric.from_json({"exclude_flags": ["too_small", "too_dark", "blurred", "blurred"]})
        assert a.fingerprint() == b.fingerprint() == RUBRIC.fingerprint()
        assert Rubric.from_json({"min_usable_frames": 6}).fingerprint() != RUBRIC.fingerprint()
