"""Sanity of the assemblies' RDMs: subjects agree, regions form a gradient (warnings only)."""

import numpy as np
import pandas as pd
import pytest
import rdm_reference
from scipy.stats import spearmanr

from nsdval.analysis import rdm_sanity, rsa
from nsdval.data import assemblies
from nsdval.data.layout import detect_layout


def shared_subjects(rng, n_subjects, n_images=30, noise=1.0):
    latents = rng.normal(size=(n_images, 4))
    return {
        f"subj{s + 1:02d}": latents @ rng.normal(size=(4, 12))
        + noise * rng.normal(size=(n_images, 12))
        for s in range(n_subjects)
    }


def test_consistency_equals_scipy(rng):
    subjects = shared_subjects(rng, 4)
    result = rdm_sanity.consistency(subjects)
    tri = {s: rdm_reference.triangle(v) for s, v in subjects.items()}
    labels = sorted(tri)
    assert result.labels == tuple(labels)
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            assert result.pairwise[i, j] == pytest.approx(spearmanr(tri[a], tri[b])[0], abs=1e-12)
        others = np.mean([tri[o] for o in labels if o != a], axis=0)
        assert result.loo[i] == pytest.approx(spearmanr(tri[a], others)[0], abs=1e-12)
    pairs = [spearmanr(tri[a], tri[b])[0] for i, a in enumerate(labels) for b in labels[i + 1 :]]
    assert result.mean_pairwise == pytest.approx(np.mean(pairs), abs=1e-12)
    # the subjects' share of the ceiling's leave-one-out bound
    assert np.mean(result.loo) == pytest.approx(rsa.rsa_ceiling(subjects)[1], abs=1e-12)


def by_name(results):
    return {(c.name, c.subject): c for c in results}


def test_consistent_subjects_pass_and_a_shuffled_subject_is_the_only_outlier(rng):
    subjects = shared_subjects(rng, 5)
    clean = rdm_sanity.consistency_checks(rdm_sanity.consistency(subjects), region="V4")
    assert [c.name for c in clean] == ["rdm-subject-consistency", *["rdm-subject-outlier"] * 5]
    assert {c.status for c in clean} == {"pass"} and {c.region for c in clean} == {"V4"}
    subjects["subj03"] = subjects["subj03"][rng.permutation(30)]  # images mislabelled
    found = by_name(rdm_sanity.consistency_checks(rdm_sanity.consistency(subjects), region="V4"))
    warned = [key for key, c in found.items() if c.status != "pass"]
    assert warned == [("rdm-subject-outlier", "subj03")]
    outlier = found["rdm-subject-outlier", "subj03"]
    assert outlier.status == "warn" and outlier.value < outlier.threshold
    assert "(0.5 x the others' median)" in outlier.detail


def test_subjects_sharing_nothing_warn_below_the_floor(rng):
    unrelated = {f"subj{s:02d}": rng.normal(size=(30, 12)) for s in range(1, 5)}
    (consistency,) = [
        c
        for c in rdm_sanity.consistency_checks(rdm_sanity.consistency(unrelated), region="IT")
        if c.name == "rdm-subject-consistency"
    ]
    assert consistency.status == "warn" and consistency.threshold == rdm_sanity.CONSISTENCY_FLOOR
    assert consistency.detail.startswith("mean Spearman over the 6 pairs of subjects' RDMs")


def test_two_subjects_have_no_outlier_to_tell_and_one_no_consistency(rng):
    two = rdm_sanity.consistency(shared_subjects(rng, 2))
    assert two.loo[0] == two.loo[1] == two.pairwise[0, 1]
    assert [c.name for c in rdm_sanity.consistency_checks(two, region="V1")] == [
        "rdm-subject-consistency"
    ]
    assert np.isnan(rdm_sanity.outlier_bounds(two.loo)).all()
    one = rdm_sanity.consistency(shared_subjects(rng, 1))
    (check,) = rdm_sanity.consistency_checks(one, region="V1")
    assert check.status == "warn" and check.detail.startswith("one subject")
    table = rdm_sanity.consistency_table(two)
    assert list(table.columns) == [
        "mean with each other subject",
        "with the others' mean RDM",
        "outlier bound",
    ]
    assert table["mean with each other subject"].tolist() == pytest.approx(
        [two.pairwise[0, 1]] * 2
    )


def similarity(v1_v2, v2_v4, v4_it, v1_it, *, regions=("V1", "V2", "V4", "IT")):
    values = {("V1", "V2"): v1_v2, ("V2", "V4"): v2_v4, ("V4", "IT"): v4_it, ("V1", "IT"): v1_it}
    table = pd.DataFrame(0.1, index=list(regions), columns=list(regions))
    for (a, b), value in values.items():
        if a in regions and b in regions:
            table.loc[a, b] = table.loc[b, a] = value
    return table


@pytest.mark.parametrize(
    ("table", "statuses"),
    [
        (similarity(0.8, 0.7, 0.6, 0.3), {"V1": "pass", "V2": "pass", "V4": "pass", "IT": "pass"}),
        (similarity(0.2, 0.7, 0.6, 0.3), {"V1": "warn", "V2": "warn", "V4": "pass", "IT": "pass"}),
        (similarity(0.8, 0.7, 0.3, 0.3), {"V1": "pass", "V2": "pass", "V4": "warn", "IT": "warn"}),
    ],
)
def test_the_gradient_warns_in_the_reports_of_the_pair_less_alike_than_v1_it(table, statuses):
    found = {r: rdm_sanity.gradient_check(table, region=r) for r in statuses}
    assert {r: c.status for r, c in found.items()} == statuses
    assert found["V2"].detail.startswith("V1-V2 ") and " vs V1-IT 0.300" in found["V2"].detail
    assert found["V1"].threshold == 0.3 and found["V2"].value == min(table.loc["V2", ["V1", "V4"]])


def test_the_gradient_without_a_region_cannot_compare():
    table = similarity(0.8, 0.7, 0.6, 0.3, regions=("V1", "V2", "V4"))
    check = rdm_sanity.gradient_check(table, region="V2")
    assert (check.status, check.detail) == (
        "warn",
        "cannot compare: no neuroid of IT with nc_testset > 30",
    )


def test_region_means_and_their_similarity_on_a_tree(rdm_tree):
    root = rdm_tree
    layout = detect_layout(root)
    train = assemblies.load_brainscore_assembly(layout, "train")
    test = assemblies.load_brainscore_assembly(layout, "test")
    means = rdm_sanity.region_mean_triangles(train, test)
    assert list(means) == ["V1", "V2", "V4", "IT"]
    _, subjects, _ = rdm_reference.region_arrays(root / "brainscore", root / "benchmark", "V2")
    expected = np.mean([rdm_reference.triangle(v) for v in subjects.values()], axis=0)
    np.testing.assert_allclose(means["V2"], expected, atol=1e-12)
    table = rdm_sanity.region_similarity(means)
    assert table.loc["V2", "IT"] == pytest.approx(
        spearmanr(means["V2"], means["IT"])[0], abs=1e-12
    )
    assert np.allclose(np.diag(table), 1.0) and np.allclose(table, table.T)
    only = rdm_sanity.region_mean_triangles(train, test, regions=("V4", "V3"))
    assert list(only) == ["V4"]  # V3: no neuroid


def test_square_is_the_symmetric_rdm_of_its_triangle(rng):
    rdm = rsa.rdm(rng.normal(size=(7, 5)))
    np.testing.assert_allclose(rdm_sanity.square(rsa.upper_triangle(rdm), 7), rdm, atol=1e-12)
