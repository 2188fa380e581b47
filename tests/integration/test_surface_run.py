"""`nsdval run --space surface` on the independent synthetic surface tree: clean and faulty.

The clean tree passes every check but one kind of warning, the count of test cells whose
repetitions the surface packaging filled with 0 one by one (NaN in the betas); each planted
surface fault fails the check named for it.
"""

import json

import pytest

from nsdval.cli import main
from nsdval.synth import SURFACE_FAULTS, synthesize

pytestmark = pytest.mark.slow
NC = "nsd-published-nc"  # NSD's published noise ceiling, held to the tree's own value

# fault -> regions of the smallest run that shows it, and checks that must fail
FAULT_EXPECTATIONS = {
    "surface-hemispheres-swapped": ("V1", {"train-values", "test-rep0-values"}),
    "surface-vertex-index-off-by-one": ("V4", {"vertex-coords", "V4-neuroids"}),
    "surface-labels-lr-swapped": ("V4", {"vertex-coords", "region-assembly-values"}),
    "surface-nan-not-filled": ("V1", {"train-finite", "train-values"}),
    "surface-test-reps-filled-like-train": ("V2", {"test-rep0-values"}),
    "surface-stage1-nan-aware": ("V2", {"region-assembly-values"}),
    "surface-v2-from-v3": ("V2", {"vertex-count"}),
    "surface-nc-other-hemisphere": ("V4", {"nc-testset", "nc-testset-surface"}),
    "surface-subject-major": ("V1,V4", {"region-contiguity"}),
    "surface-ids-per-hemisphere": ("V4", {"neuroid-id-format"}),
    "surface-region-assembly-3rep-only": ("V4", {"V4-images"}),
    "surface-rep-mean-not-nan-aware": ("V1", {"region-assembly-values"}),
}


def run(root, out, regions="V1,V2,V4,IT"):
    argv = ["run", "--nsd-root", str(root), "--space", "surface", "--out", str(out)]
    code = main([*argv, "--regions", regions, "--jobs", "2", "-q"])
    return code, json.loads((out / "results.json").read_text())


def not_passing(results):
    return {
        (c["name"], c["status"])
        for r in results["reports"]
        for c in r["checks"]
        if c["status"] != "pass"
    }


def test_every_surface_fault_is_listed_here():
    assert set(FAULT_EXPECTATIONS) == set(SURFACE_FAULTS)


def test_the_clean_surface_tree_passes_with_the_nan_filling_counted(tmp_path):
    root = synthesize(tmp_path / "nsd", preset="tiny", space="surface")
    code, results = run(root, tmp_path / "out")
    assert code == 0
    assert not_passing(results) == {("test-nan-filled", "warn")}
    assert len(results["reports"]) == 1 + 2 * 4 + 4  # structure, subject x region, rdm
    assert all(r["parameters"]["space"] == "surface" for r in results["reports"])
    truth = json.loads((root / "synth.json").read_text())["surface"]
    (published,) = [c for r in results["reports"] for c in r["checks"] if c["name"] == NC]
    assert published["status"] == "pass"
    assert published["threshold"] == truth["nsdgeneral_nc_mean"]
    assert published["value"] == pytest.approx(truth["nsdgeneral_nc_mean"], abs=1e-6)


@pytest.mark.parametrize("fault", sorted(FAULT_EXPECTATIONS))
def test_a_surface_fault_fails_its_check(tmp_path, fault):
    regions, expected = FAULT_EXPECTATIONS[fault]
    root = synthesize(tmp_path / "nsd", preset="tiny", space="surface", fault=fault)
    code, results = run(root, tmp_path / "out", regions)
    failed = {name for name, status in not_passing(results) if status == "fail"}
    assert code == 1
    assert expected <= failed, f"{fault}: failed {sorted(failed)}"
    assert all(r["status"] != "error" for r in results["reports"])
