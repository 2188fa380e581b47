"""The -rdm report's data, replica and checks, against numbers computed with scipy.

A small tree of random assemblies (tests/rdm_reference.py) is scored by nsdval and, apart,
by xarray, np.corrcoef and scipy.stats.spearmanr; the score_rdm.json files the checks read
are those numbers, right or with one planted mistake.
"""

import copy
import json

import numpy as np
import pytest
import rdm_reference

from nsdval.analysis import peer, peer_rsa, rdm_benchmark, rdm_checks, rsa
from nsdval.data import assemblies
from nsdval.data.layout import NsdLayout, detect_layout
from nsdval.errors import DependencyError

TOLERANCE = 1e-6
NUMBER_CHECKS = ["rdm-raw", "rdm-ceiling", "rdm-lower-bound-loo", "rdm-score"]


@pytest.fixture(scope="module")
def tree(rdm_tree):
    return rdm_tree


@pytest.fixture(scope="module")
def scored(tree):
    """Layout, the V4 data, its replica and the assemblies."""
    layout = detect_layout(tree)
    train = assemblies.load_brainscore_assembly(layout, "train")
    test = assemblies.load_brainscore_assembly(layout, "test")
    data = rdm_benchmark.load_rdm_data(layout, "V4", train=train, test=test)
    return layout, data, rdm_benchmark.score_replica(data), (train, test)


@pytest.fixture(scope="module")
def reports(tree):
    """Mistake (None: none) -> the numbers a benchmark making it reports for V4."""
    return rdm_reference.reported(tree / "brainscore", tree / "benchmark", "V4")


def reference(reports, mistake=None):
    return copy.deepcopy(reports[mistake])


def test_the_data_are_every_image_sorted_with_test_repetitions_averaged(tree, scored):
    _, data, _, _ = scored
    ids, subjects, model = rdm_reference.region_arrays(
        tree / "brainscore", tree / "benchmark", "V4"
    )
    assert (data.n_train, data.n_test) == (24, 8)
    np.testing.assert_array_equal(data.stimulus_ids, ids)
    assert list(data.subjects) == ["subj01", "subj02", "subj03", "subj04"]
    for label, values in subjects.items():
        assert data.subjects[label].shape == (32, 6)  # the nc_testset 10 neuroid left out
        np.testing.assert_array_equal(data.subjects[label], values)
    np.testing.assert_array_equal(data.model, model)


def test_the_replica_equals_scipy(reports, scored):
    _, _, replica, _ = scored
    expected = reference(reports)
    for key in rdm_benchmark.NUMBERS:
        assert getattr(replica, key) == pytest.approx(expected[key], abs=1e-12), key
    for label, numbers in expected["subjects"].items():
        assert replica.subject_raws[label] == pytest.approx(numbers["raw"], abs=1e-12)


def statuses(results):
    return {(c.name, c.subject): c.status for c in results}


def test_the_reported_numbers_of_a_right_benchmark_pass_every_check(reports, scored, tmp_path):
    _, _, replica, _ = scored
    path = rdm_reference.write_score(tmp_path / "score_rdm.json", reference(reports))
    reported = assemblies.load_rdm_score(path)
    results = rdm_checks.replica_checks(reported, replica, region="V4", tolerance=TOLERANCE)
    assert [c.name for c in results] == [
        *NUMBER_CHECKS,
        *["rdm-subject-raw"] * 4,
        "rdm-score-rule",
    ]
    assert {c.status for c in results} == {"pass"}
    assert {c.region for c in results} == {"V4"} and results[4].subject == "subj01"
    assert "vs score_rdm.json" in results[0].detail


@pytest.mark.parametrize("mistake", list(rdm_reference.MISTAKES))
def test_each_planted_mistake_fails_its_named_checks_and_only_those(reports, scored, mistake):
    _, _, replica, _ = scored
    reported = reference(reports, mistake)
    results = rdm_checks.replica_checks(reported, replica, region="V4", tolerance=TOLERANCE)
    failed = {c.name for c in results if c.status == "fail"}
    assert failed == rdm_reference.FAILING[mistake]
    subject_checks = [c for c in results if c.name == "rdm-subject-raw"]
    every_subject = {c.status for c in subject_checks} == {"fail"}
    assert every_subject == ("rdm-subject-raw" in rdm_reference.FAILING[mistake])


def test_the_details_name_the_likely_mistake(reports, scored):
    _, _, replica, _ = scored
    loo = rdm_checks.replica_checks(
        reference(reports, "ceiling-loo"), replica, region="V4", tolerance=TOLERANCE
    )
    ceiling = next(c for c in loo if c.name == "rdm-ceiling")
    assert ceiling.detail.endswith(
        "it equals the replica's leave-one-out bound, not the upper bound"
    )
    squared = rdm_checks.replica_checks(
        reference(reports, "score-squared"), replica, region="V4", tolerance=TOLERANCE
    )
    rule = next(c for c in squared if c.name == "rdm-score-rule")
    assert rule.detail.endswith("it equals raw² / ceiling, the ridge benchmark's rule")


def test_a_missing_number_or_a_subject_without_neuroids_fails(reports, scored):
    _, _, replica, _ = scored
    reported = reference(reports)
    del reported["lower_bound_loo"]
    reported["subjects"]["subj09"] = {"raw": 0.1}
    del reported["subjects"]["subj02"]["raw"]
    found = {
        (c.name, c.subject): (c.status, c.detail)
        for c in rdm_checks.replica_checks(reported, replica, region="V4", tolerance=TOLERANCE)
    }
    assert found["rdm-lower-bound-loo", None] == (
        "fail",
        "score_rdm.json reports no lower_bound_loo",
    )
    assert found["rdm-subject-raw", "subj02"] == ("fail", "score_rdm.json reports no raw")
    assert found["rdm-subject-raw", "subj09"] == (
        "fail",
        "score_rdm.json reports subj09: no V4 neuroid of it has nc_testset > 30",
    )
    assert found["rdm-raw", None][0] == "pass"


def test_without_a_reported_score_there_is_nothing_to_check(scored):
    layout, _, replica, _ = scored
    path = layout.rdm_score("V4")
    assert not path.exists() and assemblies.load_rdm_score(path) is None
    assert rdm_checks.replica_checks(None, replica, region="V4", tolerance=TOLERANCE) == []
    assert rdm_benchmark.reported_note(None, path) == (
        f"Reported: none ({path} does not exist), nothing to compare."
    )
    table = rdm_benchmark.numbers_table(None, replica, None)
    assert list(table.columns) == ["reported", "nsdval replica"]
    assert table["reported"].isna().all()


def test_live_checks_hold_the_replica_to_brainscore(scored):
    _, _, replica, _ = scored
    assert rdm_checks.live_checks(None, replica, region="V4", tolerance=TOLERANCE) == []
    live = rdm_benchmark.replica_record(replica)
    same = rdm_checks.live_checks(live, replica, region="V4", tolerance=TOLERANCE)
    assert [c.name for c in same][:4] == [
        f"rdm-brainscore-{n}" for n in ("raw", "ceiling", "lower-bound-loo", "score")
    ]
    assert {c.status for c in same} == {"pass"} and len(same) == 8
    live["subjects"]["subj03"]["raw"] += 1e-3
    moved = rdm_checks.live_checks(live, replica, region="V4", tolerance=TOLERANCE)
    assert [(c.name, c.subject) for c in moved if c.status == "fail"] == [
        ("rdm-brainscore-subject-raw", "subj03")
    ]
    assert "vs Brain-Score" in moved[6].detail
    (raised,) = rdm_checks.live_checks(
        {"subjects": {}, "error": "KeyError: 'subject'"}, replica, region="V4", tolerance=1e-6
    )
    assert (raised.name, raised.status) == ("rdm-brainscore-live", "fail")


def test_nan_in_both_is_equal_and_in_one_fails():
    replica = rsa.RsaBenchmark(0.2, 1.0, float("nan"), 0.2, {"subj01": 0.2})
    reported = {
        "score": 0.2,
        "raw": 0.2,
        "ceiling": 1.0,
        "lower_bound_loo": float("nan"),
        "subjects": {"subj01": {"raw": float("nan")}},
    }
    found = statuses(rdm_checks.replica_checks(reported, replica, region="V1", tolerance=1e-6))
    assert found["rdm-lower-bound-loo", None] == "pass"
    assert found["rdm-subject-raw", "subj01"] == "fail"


def test_live_scoring_says_why_it_did_not_run(scored, monkeypatch):
    layout, _, _, (train, test) = scored
    off = rdm_benchmark.score_live(layout, "V4", train=train, test=test, enabled=False)
    assert off == (None, "Brain-Score live: not run (brainscore_live=False).")

    def no_brainscore():
        raise ImportError("No module named 'brainscore_vision'")

    # patched where peer imports, so the test holds where Brain-Score is already imported
    monkeypatch.setattr(peer, "_import_brainscore", no_brainscore)
    record, note = rdm_benchmark.score_live(layout, "V4", train=train, test=test)
    assert record is None and "\n" not in note
    assert note.startswith("Brain-Score live: not run: brainscore_vision not importable (")
    with pytest.raises(DependencyError, match="Brain-Score environment"):
        peer_rsa.score_region(train, test, (), region="V4", dataset_prefix="Allen2022_fmri")


def test_the_table_and_record_show_reported_replica_and_live(reports, scored):
    layout, _, replica, _ = scored
    reported = {**reference(reports, "score-squared"), "model": "test-model"}
    live = rdm_benchmark.replica_record(replica)
    table = rdm_benchmark.numbers_table(reported, replica, live)
    assert list(table.columns) == ["reported", "nsdval replica", "Brain-Score live"]
    assert list(table.index)[:5] == ["raw", "ceiling", "lower_bound_loo", "score", "subj01 raw"]
    assert table.loc["score", "reported"] == pytest.approx(reported["score"])
    bars = rdm_benchmark.subject_raw_table(reported, replica, None)
    assert list(bars.index) == ["subj01", "subj02", "subj03", "subj04"]
    identifier = rdm_benchmark.benchmark_identifier(layout, "V4")
    record = rdm_benchmark.region_record(
        "V4", identifier=identifier, reported=reported, replica=replica, live=None, notes=["n"]
    )
    entry = json.loads(json.dumps(record, allow_nan=False))["V4"]
    assert entry["benchmark"] == "Allen2022_fmri.V4-rdm" and entry["model"] == "test-model"
    assert entry["brainscore"] is None and entry["notes"] == ["n"]
    assert entry["replica"]["ceiling"] == pytest.approx(replica.ceiling)
    assert entry["subjects"]["subj02"]["brainscore"] is None


@pytest.mark.parametrize(
    ("space", "variant", "expected"),
    [
        ("volume", "_8subj", "Allen2022_fmri.IT-rdm"),
        ("volume", "_4subj", "Allen2022_fmri_4subj.IT-rdm"),
        ("surface", "_8subj", "Allen2022_fmri_surface.IT-rdm"),
        ("surface", "_4subj", "Allen2022_fmri_surface_4subj.IT-rdm"),
    ],
)
def test_the_benchmark_is_named_after_the_family(space, variant, expected):
    layout = NsdLayout("/nsd", variant=variant, space=space)
    assert rdm_benchmark.benchmark_identifier(layout, "IT") == expected


def test_repeated_images_fail_their_check_but_still_score():
    clean = rdm_checks.image_check(np.array(["a", "c", "b"]), region="V4")
    leaky = rdm_checks.image_check(np.array(["a", "c", "a", "b"]), region="V4")
    assert (clean.name, clean.status, leaky.status, leaky.value) == (
        "rdm-unique-images",
        "pass",
        "fail",
        1,
    )
    values, ids = rsa.sort_by_stimulus([[3.0], [1.0], [2.0]], ["b", "a", "b"], unique=False)
    assert ids.tolist() == ["a", "b", "b"] and values.ravel().tolist() == [1.0, 3.0, 2.0]
    with pytest.raises(Exception, match="repeated id 'b'"):
        rsa.sort_by_stimulus([[3.0], [1.0], [2.0]], ["b", "a", "b"])
