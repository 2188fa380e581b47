"""`nsdval run` reproduces the synthetic tree's `-rdm` scores and names the planted faults.

The synthetic generator writes each region's `score_rdm.json` with its own scorer (sharing no
code with :mod:`nsdval.analysis.rsa`); the `benchmark_rdm` reports hold them against nsdval's
replica. Each planted `-rdm` fault fails the checks named for it and leaves the others passing.
"""

import json

import pytest

from nsdval.cli import main
from nsdval.synth import RDM_FAULTS, synthesize

pytestmark = pytest.mark.slow

# fault -> checks of the V4 report that must fail
FAULT_CHECKS = {
    "rdm-ceiling-loo": {"rdm-ceiling", "rdm-score"},
    "rdm-score-squared": {"rdm-score", "rdm-score-rule"},
    "rdm-repetitions-not-averaged": {"rdm-raw", "rdm-ceiling", "rdm-score", "rdm-subject-raw"},
    "rdm-subjects-pooled": {"rdm-raw", "rdm-score", "rdm-subject-raw"},
}
REPORTED = ("rdm-raw", "rdm-ceiling", "rdm-lower-bound-loo", "rdm-score", "rdm-subject-raw")


def rdm_run(root, out, *options):
    argv = ["run", "--nsd-root", str(root), "--out", str(out), "--reports", "rdm", "-q"]
    code = main([*argv, *options])
    return code, json.loads((out / "results.json").read_text())


def statuses(record):
    found = {}
    for check in record["checks"]:
        worst = found.get(check["name"], "pass")
        found[check["name"]] = check["status"] if check["status"] != "pass" else worst
    return found


def test_every_rdm_fault_is_listed_here():
    assert set(FAULT_CHECKS) == set(RDM_FAULTS)


def test_the_clean_tree_reproduces_every_reported_rdm_score(tmp_path):
    root = synthesize(tmp_path / "nsd", preset="tiny", space="all")
    code, results = rdm_run(root, tmp_path / "out", "--jobs", "2")
    assert code == 0
    records = results["reports"]
    assert {(r["family"], r["region"]) for r in records} == {
        (family, region)
        for family in ("volume_8subj", "surface_8subj")
        for region in ("V1", "V2", "V4", "IT")
    }
    for record in records:
        found = statuses(record)
        assert all(found[name] == "pass" for name in REPORTED), (record["id"], found)
        replica = record["benchmark"][record["region"]]["replica"]
        reported = record["benchmark"][record["region"]]["reported"]
        assert replica["score"] == pytest.approx(reported["score"], abs=1e-6)


@pytest.mark.parametrize("fault", sorted(FAULT_CHECKS))
def test_a_planted_rdm_fault_fails_its_named_checks(tmp_path, fault):
    root = synthesize(tmp_path / "nsd", preset="tiny", fault=fault)
    code, results = rdm_run(root, tmp_path / "out", "--regions", "V4")
    assert code == 1
    (record,) = results["reports"]
    failing = {name for name, status in statuses(record).items() if status == "fail"}
    assert FAULT_CHECKS[fault] <= failing <= set(REPORTED) | {"rdm-score-rule"}
