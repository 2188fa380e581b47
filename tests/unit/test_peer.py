"""What nsdval does when Brain-Score is not importable (in any environment)."""

import sys

import numpy as np
import pytest

from nsdval.analysis import benchmark, live, peer
from nsdval.analysis.scoring import SubjectBenchmark
from nsdval.errors import DependencyError


@pytest.fixture
def no_brainscore(monkeypatch):
    for name in ("brainscore_core", "brainscore_vision"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError


def test_status_and_require_without_brainscore(no_brainscore):
    available, detail = peer.brainscore_status()
    assert not available and "brainscore" in detail
    with pytest.raises(DependencyError, match="Brain-Score environment"):
        peer.require_brainscore()


def test_score_with_brainscore_says_why_in_one_line(no_brainscore):
    record, note = benchmark.score_with_brainscore(None, "V4", train=None, test=None)
    assert record is None and note.startswith("Brain-Score is not installed in this kernel")
    assert "\n" not in note
    record, note = benchmark.score_with_brainscore(
        None, "V4", train=None, test=None, enabled=False
    )
    assert record is None and "turned off" in note


def subject(raw, ceiling):
    return SubjectBenchmark(raw, ceiling, raw**2 / ceiling, 3, np.zeros(3))


REPORTED = {"subjects": {"subj01": {"raw": 0.4, "ceiling": 0.5, "score": 0.32}}}
LIVE = {"subjects": {"subj01": {"raw": 0.4 + 1e-9, "ceiling": 0.5, "score": 0.32}}}


def test_side_by_side_has_a_brainscore_column_only_with_live_numbers():
    replica = {"subj01": subject(0.4, 0.5)}
    without = benchmark.side_by_side(REPORTED, replica, None)
    assert list(without.columns) == ["reported", "nsdval replica"]
    assert list(without.index) == [("subj01", k) for k in ("raw", "ceiling", "score")]
    both = benchmark.side_by_side(REPORTED, replica, LIVE)
    assert list(both.columns) == ["reported", "nsdval replica", "Brain-Score live"]
    assert both.loc[("subj01", "raw"), "Brain-Score live"] == pytest.approx(0.4)


def test_brainscore_checks_hold_the_replica_to_the_live_numbers():
    assert benchmark.brainscore_checks({"subj01": subject(0.4, 0.5)}, None, tolerance=1e-5) == []
    ok = benchmark.brainscore_checks({"subj01": subject(0.4, 0.5)}, LIVE, tolerance=1e-5)
    assert [(c.name, c.status, c.subject) for c in ok] == [
        ("brainscore-raw", "pass", "subj01"),
        ("brainscore-ceiling", "pass", "subj01"),
        ("brainscore-score", "pass", "subj01"),
    ]
    assert "vs Brain-Score 0.400000" in ok[0].detail
    moved = benchmark.brainscore_checks({"subj02": subject(0.4, 0.5)}, LIVE, tolerance=1e-5)
    assert {c.status for c in moved} == {"fail"}  # Brain-Score scored no subj02


def test_subject_record_keeps_the_live_numbers():
    record = benchmark.subject_record(REPORTED, {"subj01": subject(0.4, 0.5)}, {}, LIVE)
    assert record["subj01"]["brainscore"] == LIVE["subjects"]["subj01"]
    assert "brainscore" not in benchmark.subject_record(
        REPORTED, {"subj01": subject(0.4, 0.5)}, {}
    )


@pytest.mark.parametrize(("value", "expected"), [(np.array([0.25]), 0.25), (3, 3.0)])
def test_scalar(value, expected):
    assert peer.scalar(value) == expected
    with pytest.raises(ValueError, match="one value"):
        peer.scalar(np.zeros(2))


def test_a_brainscore_failure_is_one_failing_check():
    live = {"subjects": {}, "error": "AssertionError: stimulus ids differ"}
    [result] = benchmark.brainscore_checks({"subj01": subject(0.4, 0.5)}, live, tolerance=1e-5)
    assert (result.name, result.status) == ("brainscore-live", "fail")
    assert "stimulus ids differ" in result.detail
    table = benchmark.side_by_side(REPORTED, {"subj01": subject(0.4, 0.5)}, live)
    assert table["Brain-Score live"].isna().all()


NOTES = live.LiveNotes(off="off", missing="missing {detail}", failed="failed {error}", done="ok")


def test_live_record_turns_a_scorer_error_into_an_error_record(monkeypatch):
    monkeypatch.setattr(peer, "brainscore_status", lambda: (True, "brainscore-vision 9"))

    def broken(inputs):
        raise ValueError(f"bad {inputs}\nsecond line")

    record, note = live.live_record(lambda: "x", broken, enabled=True, notes=NOTES)
    assert record == {"subjects": {}, "error": "ValueError: bad x"}
    assert note == "failed ValueError: bad x"
    record, note = live.live_record(lambda: 2, lambda n: {"n": n * 3}, enabled=True, notes=NOTES)
    assert (record, note) == ({"n": 6}, "ok")


def test_live_record_lets_an_unreadable_input_through_and_loads_nothing_when_off(monkeypatch):
    monkeypatch.setattr(peer, "brainscore_status", lambda: (True, "brainscore-vision 9"))

    def unreadable():
        raise OSError("activations.nc: truncated")

    with pytest.raises(OSError, match="truncated"):
        live.live_record(unreadable, lambda inputs: {}, enabled=True, notes=NOTES)
    assert live.live_record(unreadable, None, enabled=False, notes=NOTES) == (None, "off")
    monkeypatch.setattr(peer, "brainscore_status", lambda: (False, "no module"))
    assert live.live_record(unreadable, None, enabled=True, notes=NOTES) == (
        None,
        "missing no module",
    )
