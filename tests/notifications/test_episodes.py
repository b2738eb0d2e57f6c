"""The sustained-negative detector (evaluations.episodes): a pure function, no database."""

from __future__ import annotations

import json

from evaluations.episodes import MAX_GAP_SECONDS, NegativeRun
from evaluations.grading import Frame, Rubric
from inference.results import Quality
from tests.notifications.conftest import face

RUBRIC = Rubric.from_json({})


def run_over(run: NegativeRun, emotions: list[tuple[float, str]], threshold: float = 20.0, **face_args):
    found = []
    for i, (t, emotion) in enumerate(emotions):
        episode = run.add(Frame(sequence=i, offset_seconds=t, faces=(face(emotion, **face_args),)), RUBRIC, threshold)
        if episode is not None:
            found.append(episode)
    return found


def every(emotion: str, start: float, end: float, step: float = 0.5) -> list[tuple[float, str]]:
    n = round((end - start) / step)
    return [(start + i * step, emotion) for i in range(n + 1)]


def test_a_run_reaching_the_threshold_is_one_episode_reported_at_that_frame() -> None:
    found = run_over(NegativeRun(), every("fear", 3.0, 40.0))
    assert len(found) == 1
    episode = found[0]
    assert (episode.start_seconds, episode.end_seconds) == (3.0, 23.0)
    assert episode.duration_seconds == 20.0
    assert episode.frames == 41
    assert episode.emotions == {"fear": 41}
    assert episode.to_json()["threshold_seconds"] == 20.0


def test_a_run_shorter_than_the_threshold_is_no_episode() -> None:
    assert run_over(NegativeRun(), every("angry", 0.0, 19.5)) == []


def test_angry_disgust_and_fear_count_together() -> None:
    mixed = every("angry", 0, 7) + every("disgust", 7.5, 14) + every("fear", 14.5, 21)
    (episode,) = run_over(NegativeRun(), mixed)
    assert set(episode.emotions) == {"angry", "disgust", "fear"}


def test_a_frame_with_another_dominant_emotion_ends_the_run() -> None:
    frames = [*every("fear", 0, 15), (15.5, "neutral"), *every("fear", 16, 30)]
    assert run_over(NegativeRun(), frames) == []


def test_unusable_frames_neither_extend_nor_break_a_run() -> None:
    run = NegativeRun()
    assert run_over(run, every("fear", 0, 10)) == []
    # A dark, happy face in between is not evidence either way.
    assert run_over(run, [(10.5, "happy")], quality=Quality(too_dark=True)) == []
    assert run_over(run, [(11, "happy")], score=0.1) == []
    (episode,) = run_over(run, every("fear", 11.5, 25))
    assert episode.start_seconds == 0


def test_a_gap_longer_than_the_limit_starts_a_new_run() -> None:
    frames = every("fear", 0, 15) + every("fear", 15 + MAX_GAP_SECONDS + 0.5, 30)
    assert run_over(NegativeRun(), frames) == []


def test_an_episode_is_reported_once_however_long_it_lasts_and_again_after_a_recovery() -> None:
    run = NegativeRun()
    first = run_over(run, every("angry", 0, 120))
    recovery = run_over(run, every("happy", 120.5, 130))
    second = run_over(run, every("disgust", 130.5, 160))
    assert [e.start_seconds for e in first + recovery + second] == [0, 130.5]


def test_a_late_frame_is_ignored() -> None:
    run = NegativeRun()
    run_over(run, every("fear", 0, 10))
    assert run_over(run, [(4.0, "happy")]) == []  # older than the latest: a late worker
    (episode,) = run_over(run, every("fear", 10.5, 20))
    assert episode.start_seconds == 0


def test_the_run_survives_a_json_round_trip_in_the_middle_of_an_episode() -> None:
    run = NegativeRun()
    run_over(run, every("fear", 0, 12))
    restored = NegativeRun.from_json(json.loads(json.dumps(run.to_json())))
    (episode,) = run_over(restored, every("fear", 12.5, 25))
    assert (episode.start_seconds, episode.end_seconds) == (0, 20)
    reported = NegativeRun.from_json(json.loads(json.dumps(restored.to_json())))
    assert run_over(reported, every("fear", 25.5, 60)) == []


def test_an_empty_state_is_a_fresh_run() -> None:
    assert NegativeRun.from_json(None) == NegativeRun()
    assert NegativeRun.from_json({}) == NegativeRun()
