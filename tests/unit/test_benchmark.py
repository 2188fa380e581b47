import numpy as np
import pytest

from nsdval.analysis import benchmark
from nsdval.analysis.scoring import SubjectBenchmark

REPORTED = {
    "score": 0.3,
    "raw": 0.4,
    "ceiling": 0.5,
    "subjects": {"subj01": {"raw": 0.4, "ceiling": 0.5, "score": 0.32}},
}


def subject(raw=0.4, ceiling=0.5):
    return SubjectBenchmark(
        raw=raw, ceiling=ceiling, score=raw**2 / ceiling, n_voxels=3, r=np.zeros(3)
    )


def test_replica_checks_pass_when_equal_and_name_the_number_that_moved():
    ok = benchmark.replica_checks(REPORTED, {"subj01": subject()}, tolerance=1e-4)
    assert [(c.name, c.status) for c in ok] == [
        ("replica-raw", "pass"),
        ("replica-ceiling", "pass"),
        ("replica-score", "pass"),
    ]
    moved = benchmark.replica_checks(REPORTED, {"subj01": subject(raw=0.45)}, tolerance=1e-4)
    assert {c.name: c.status for c in moved} == {
        "replica-raw": "fail",
        "replica-ceiling": "pass",
        "replica-score": "fail",
    }
    assert moved[0].value == pytest.approx(0.05)
    assert "replica 0.450000 vs reported 0.400000" in moved[0].detail


def test_a_subject_missing_from_score_json_fails():
    res = benchmark.replica_checks(REPORTED, {"subj02": subject()}, tolerance=1e-4)
    assert {c.status for c in res} == {"fail"}
    assert res[0].detail == "score.json reports no raw for subj02"


def test_summary_checks_carry_region_and_section():
    res = benchmark.summary_checks(
        REPORTED,
        {"score": 0.3, "raw": 0.41, "ceiling": 0.5},
        tolerance=1e-4,
        region="V4",
        section="7. X",
    )
    assert [(c.name, c.status, c.region, c.section) for c in res] == [
        ("region-score", "pass", "V4", "7. X"),
        ("region-raw", "fail", "V4", "7. X"),
        ("region-ceiling", "pass", "V4", "7. X"),
    ]


def test_comparison_table_lines_up_reported_replica_and_ridgecv():
    table = benchmark.comparison_table(REPORTED, {"subj01": subject()}, {"subj01": (0.6, 100.0)})
    row = table.loc["subj01"]
    assert (row["reported raw"], row["replica raw"], row["RidgeCV raw"]) == (0.4, 0.4, 0.6)
    assert row["RidgeCV alpha"] == 100.0
