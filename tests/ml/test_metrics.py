from __future__ import annotations

import numpy as np
import pytest

from inference.registry import calibrated_softmax
from ml import metrics


def test_summary_counts_accuracy_recall_and_the_confusion_matrix() -> None:
    labels = np.array([0, 0, 3, 3, 3, 6])
    probs = np.eye(7)[[0, 3, 3, 3, 6, 6]] * 0.9 + 0.1 / 7
    s = metrics.summary(probs, labels)
    assert s["accuracy"] == pytest.approx(4 / 6, abs=1e-4)
    assert s["per_class_recall"]["angry"] == 0.5
    assert s["per_class_recall"]["happy"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["per_class_recall"]["disgust"] == 0.0  # absent class: zero, not a crash
    assert s["confusion_matrix"][0][3] == 1 and s["confusion_matrix"][3][6] == 1


def test_a_perfectly_calibrated_model_has_zero_ece_and_an_overconfident_one_does_not() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 5000)
    confident = np.eye(7)[labels]
    assert metrics.expected_calibration_error(confident, labels)[0] == pytest.approx(0.0)
    wrong_half = labels.copy()
    wrong_half[::2] = (wrong_half[::2] + 1) % 7
    assert metrics.expected_calibration_error(np.eye(7)[wrong_half], labels)[0] == pytest.approx(0.5, abs=0.01)


def test_calibrated_softmax_applies_temperature_then_class_bias() -> None:
    logits = np.array([[2.0, 0.0, 0, 0, 0, 0, 0]])
    hot, cool = calibrated_softmax(logits, 1.0), calibrated_softmax(logits, 2.0)
    assert hot[0, 0] > cool[0, 0] > 1 / 7
    biased = calibrated_softmax(logits, 1.0, (0.0, 2.0, 0, 0, 0, 0, 0))
    assert biased[0, 1] == pytest.approx(biased[0, 0])
    assert np.allclose(biased.sum(axis=1), 1.0)
