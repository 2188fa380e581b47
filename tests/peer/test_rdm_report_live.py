"""The -rdm report's live numbers: Brain-Score's own RSA classes equal nsdval's replica.

On the tiny and demo trees, every region: ``rdm_benchmark.score_live`` (nsdval.analysis.
peer_rsa building what ``Allen2022fmriRSA`` builds) gives the replica's numbers to 1e-6; the
assembly it scores is the one Brain-Score's ``load_full_assembly`` makes from the same
netCDF files, and the factory itself scores the same; executed as a report, the
benchmark_rdm notebook records the live checks passing.
"""

import json
from unittest import mock

import numpy as np
import pytest
from peer_helpers import REGIONS, dataset_loader, tree_activations

from nsdval.analysis import peer, peer_rsa, rdm_benchmark, rdm_checks
from nsdval.run import execution, plan

TOLERANCE = 1e-6


def scored(root, region):
    layout, train, test = rdm_benchmark.load_assemblies(nsd_root=root, variant="_8subj")
    replica = rdm_benchmark.score_replica(
        rdm_benchmark.load_rdm_data(layout, region, train=train, test=test)
    )
    live, note = rdm_benchmark.score_live(layout, region, train=train, test=test)
    return (train, test), replica, live, note


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("tree", ["tiny_tree", "demo_tree"])
def test_live_numbers_equal_the_replica(request, tree, region):
    root = request.getfixturevalue(tree)
    _, replica, live, note = scored(root, region)
    assert note.startswith("Brain-Score live: scored with its own RSA classes (brainscore-vision")
    results = rdm_checks.live_checks(live, replica, region=region, tolerance=TOLERANCE)
    worst = max(result.value for result in results)
    print(tree, region, "largest |live - replica|:", worst)
    assert {result.status for result in results} == {"pass"} and worst <= TOLERANCE
    assert sorted(live["subjects"]) == sorted(replica.subject_raws)
    assert len(results) == 4 + len(replica.subject_raws)


def test_the_assembly_is_load_full_assemblys_and_the_factory_scores_the_same(tiny_tree):
    from brainscore_vision.benchmarks.allen2022_fmri import benchmark as module

    (train, test), _, live, _ = scored(tiny_tree, "IT")
    ours = peer_rsa.full_assembly(train, test, region="IT", dataset_prefix="Allen2022_fmri")
    with mock.patch.object(module, "load_dataset", dataset_loader(tiny_tree)), peer.quiet():
        theirs = module.load_full_assembly(region="IT")
        bench = module.Allen2022fmriRSA("IT")
        assert bench.identifier == "Allen2022_fmri.IT-rdm" and bench._visual_degrees == 8.4
        factory = mock.patch.object(module, "load_full_assembly", lambda **_: ours)
        with factory:
            bench = module.Allen2022fmriRSA("IT")
            score = bench(peer.RecordedModel(tree_activations(tiny_tree, "IT")))
    np.testing.assert_array_equal(ours.values, theirs.values)
    for coord in ("stimulus_id", "neuroid_id", "subject", "region"):
        np.testing.assert_array_equal(ours[coord].values, theirs[coord].values)
    assert ours.stimulus_set.identifier == theirs.stimulus_set.identifier
    assert list(ours.stimulus_set["stimulus_id"]) == list(theirs.stimulus_set["stimulus_id"])
    subjects = np.unique(ours["subject"].values)
    assert peer_rsa.rsa_record(score, subjects) == {k: v for k, v in live.items()}


def test_the_report_records_the_live_checks(tiny_tree, tmp_path):
    parameters = {"nsd_root": str(tiny_tree), "region": "V2"}
    job = plan.Job("V2-benchmark_rdm", "benchmark_rdm", None, "V2", parameters, "rdm/V2")
    record = execution.execute_job(job, out=tmp_path, notebooks_dir=plan.default_notebooks_dir())
    assert record.error is None
    live = [c for c in record.checks if c["name"].startswith("rdm-brainscore-")]
    assert [c["name"] for c in live][:4] == [
        "rdm-brainscore-raw",
        "rdm-brainscore-ceiling",
        "rdm-brainscore-lower-bound-loo",
        "rdm-brainscore-score",
    ]
    assert len(live) == 6 and all(c["status"] == "pass" and c["value"] <= TOLERANCE for c in live)
    entry = json.loads((tmp_path / "rdm" / "V2" / "results.json").read_text())
    numbers = entry["extra"]["benchmark"]["V2"]
    reported = json.loads((tiny_tree / "benchmark" / "V2" / "score_rdm.json").read_text())
    for key, value in numbers["brainscore"].items():
        assert value == pytest.approx(numbers["replica"][key], abs=TOLERANCE), key
        assert value == pytest.approx(reported[key], abs=TOLERANCE), key  # the synth's own
    assert record.status == "pass"  # reported, replica and live agree; the sanity holds
