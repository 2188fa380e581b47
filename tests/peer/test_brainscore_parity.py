"""nsdval's replica of ``Allen2022_fmri.REGION-ridge`` equals Brain-Score's own numbers."""

import shutil

import numpy as np
import pytest
import xarray as xr
from peer_helpers import (
    REGIONS,
    TOLERANCE,
    VOLUME,
    flat,
    max_difference,
    real_benchmark,
    replica_record,
    reported_record,
    score_real_benchmark,
    tree_activations,
)

from nsdval.analysis import benchmark, peer
from nsdval.data import assemblies
from nsdval.data.families import VARIANT_SUBJECTS, Family, family_layout
from nsdval.data.layout import detect_layout, subject_label
from nsdval.synth import scoring

SURFACE, SURFACE_4SUBJ = Family("surface"), Family("surface", "_4subj")
VOLUME_4SUBJ = Family("volume", "_4subj")


def family_cases():
    """(family, tree fixture, region) of the parity tests: each family's own benchmark.

    The 8-subject families score every region of the tiny trees; the 4-subject ones need the
    demo tree, slower to score, and keep to V1 (NaN nc_testset and zero-filled cells on the
    surface) and V4.
    """
    cases = [(VOLUME, "tiny_tree", r) for r in REGIONS]
    cases += [(SURFACE, "tiny_all_tree", r) for r in REGIONS]
    cases += [(f, "demo_all_tree", r) for f in (VOLUME_4SUBJ, SURFACE_4SUBJ) for r in ("V1", "V4")]
    return [pytest.param(*case, id=f"{case[0].key}-{case[2]}") for case in cases]


@pytest.mark.parametrize(("family", "tree", "region"), family_cases())
def test_replica_equals_the_real_benchmark_object(
    request, family, tree, region, brainscore_scores
):
    root = request.getfixturevalue(tree)
    theirs = brainscore_scores(root, region, family)
    if family.variant in VARIANT_SUBJECTS:
        expected = [subject_label(n) for n in VARIANT_SUBJECTS[family.variant]]
        assert list(theirs["subjects"]) == expected
    ours = replica_record(root, region, family)
    assert max_difference(ours, theirs) <= TOLERANCE, (flat(ours), flat(theirs))


@pytest.mark.parametrize(("family", "tree", "region"), family_cases())
def test_reported_score_json_equals_brainscore(request, family, tree, region, brainscore_scores):
    root = request.getfixturevalue(tree)
    reported = reported_record(root, region, family)
    assert reported["benchmark"] == f"{family.benchmark_name}.{region}-ridge"
    theirs = brainscore_scores(root, region, family)
    assert max_difference(reported, theirs) <= TOLERANCE, (flat(reported), flat(theirs))


@pytest.mark.parametrize(
    ("family", "tree"),
    [(SURFACE, "tiny_all_tree"), (SURFACE_4SUBJ, "demo_all_tree")],
    ids=[SURFACE.key, SURFACE_4SUBJ.key],
)
def test_the_surface_benchmarks_score_the_nan_cells(request, family, tree):
    """The surface parity covers the packaging's NaN: nc_testset NaN, cells filled with 0."""
    root = request.getfixturevalue(tree)
    layout = family_layout(root, family)
    test = assemblies.load_brainscore_assembly(layout, "test")
    in_v1 = test["region"].values == "V1"
    reliable = in_v1 & (test["nc_testset"].values > 30)
    assert np.isnan(test["nc_testset"].values[in_v1]).any()
    assert (test.values[:, reliable] == 0).any() and not np.isnan(test.values).any()
    bench, patch = real_benchmark(root, "V1", family)
    with patch, peer.quiet():
        scored = bench.test_assembly
    assert {"hemisphere", "vertex_index"} <= set(scored["neuroid"].to_index().names)
    assert sorted(scored["neuroid_id"].values) == sorted(test["neuroid_id"].values[reliable])


def test_every_region_of_the_demo_tree(demo_tree, brainscore_scores):
    gaps = {
        region: max_difference(
            replica_record(demo_tree, region), brainscore_scores(demo_tree, region)
        )
        for region in REGIONS
    }
    print("replica vs Brain-Score, largest difference per region:", gaps)
    assert max(gaps.values()) <= TOLERANCE, gaps


@pytest.mark.parametrize("region", ["V4", "IT"])
def test_nsdval_peer_equals_the_real_benchmark_object(tiny_tree, region, brainscore_scores):
    layout = detect_layout(tiny_tree)
    train = assemblies.load_brainscore_assembly(layout, "train")
    test = assemblies.load_brainscore_assembly(layout, "test")
    ours = peer.score_region(train, test, tree_activations(tiny_tree, region), region=region)
    assert max_difference(ours, brainscore_scores(tiny_tree, region)) <= 1e-12


def test_one_subject_block_scores_as_in_the_whole_benchmark(tiny_tree, brainscore_scores):
    layout = detect_layout(tiny_tree)
    train = assemblies.load_brainscore_assembly(layout, "train")
    test = assemblies.load_brainscore_assembly(layout, "test")
    keep = np.flatnonzero(assemblies.neuroid_mask(train, subject="subj02", region="V4"))
    live, note = benchmark.score_with_brainscore(
        layout, "V4", train=train.isel(neuroid=keep), test=test.isel(neuroid=keep)
    )
    assert "brainscore-vision 2.4" in note
    assert list(live["subjects"]) == ["subj02"]
    whole = brainscore_scores(tiny_tree, "V4")["subjects"]["subj02"]
    for key in ("raw", "ceiling", "score"):
        assert live["subjects"]["subj02"][key] == pytest.approx(whole[key], abs=1e-12)


def brainscore_inputs(root, region, subject):
    """One subject's assemblies as Brain-Score's load_assembly prepares them."""
    layout = detect_layout(root)
    split = {"region": region}
    train = assemblies.load_brainscore_assembly(layout, "train")
    test = assemblies.load_brainscore_assembly(layout, "test")
    keep = np.flatnonzero(assemblies.neuroid_mask(train, subject=subject))
    train, test = train.isel(neuroid=keep), test.isel(neuroid=keep)
    model = peer.RecordedModel(tree_activations(root, region))
    return {
        "train": peer.load_split(train, average_repetitions=False, identifier="tr", **split),
        "test": peer.load_split(test, average_repetitions=True, identifier="te", **split),
        "reps": peer.load_split(test, average_repetitions=False, identifier="te", **split),
        "model": model,
    }


def split_metric(regression, inputs):
    from brainscore_vision.metrics.regression_correlation.metric import (
        TrainTestSplitCorrelation,
        pearsonr_correlation,
    )

    metric = TrainTestSplitCorrelation(regression=regression, correlation=pearsonr_correlation())
    model = inputs["model"]
    with peer.quiet():
        return metric(
            source_train=model.look_at(inputs["train"].stimulus_set),
            target_train=inputs["train"],
            source_test=model.look_at(inputs["test"].stimulus_set),
            target_test=inputs["test"],
        )


@pytest.mark.parametrize("region", REGIONS)
def test_replica_equals_the_metric_and_ceiling_classes(tiny_tree, region):
    from brainscore_vision.metrics.internal_consistency.ceiling import InternalConsistency
    from brainscore_vision.metrics.regression_correlation.metric import ridge_regression

    ours = replica_record(tiny_tree, region)["subjects"]
    for label, numbers in ours.items():
        inputs = brainscore_inputs(tiny_tree, region, label)
        raw = peer.scalar(split_metric(ridge_regression(), inputs))
        with peer.quiet():
            ceiling = InternalConsistency()(inputs["reps"])
        subject_ceiling = float(np.mean(np.median(ceiling.raw, axis=1)))
        assert numbers["raw"] == pytest.approx(raw, abs=TOLERANCE)
        assert numbers["ceiling"] == pytest.approx(subject_ceiling, abs=TOLERANCE)
        assert numbers["score"] == pytest.approx(raw**2 / subject_ceiling, abs=TOLERANCE)


@pytest.mark.parametrize("region", ["V1", "V4", "IT"])
def test_standalone_ridgecv_equals_ridgecv_split(tiny_tree, region):
    from brainscore_vision.metrics.regression_correlation.metric import ridge_cv_regression

    layout = detect_layout(tiny_tree)
    train = assemblies.load_brainscore_assembly(layout, "train")
    test = assemblies.load_brainscore_assembly(layout, "test")
    data = benchmark.load_benchmark_data(layout, region, train=train, test=test)
    ours = benchmark.score_ridgecv(data)
    for label, (r, alpha) in ours.items():
        score = split_metric(ridge_cv_regression(), brainscore_inputs(tiny_tree, region, label))
        assert alpha == pytest.approx(float(score.attrs["raw"].attrs["alpha"]), rel=1e-12)
        assert r == pytest.approx(peer.scalar(score), abs=TOLERANCE)


def write_like(array, path):
    array.to_netcdf(path.with_suffix(".tmp"), engine="h5netcdf")
    path.with_suffix(".tmp").replace(path)


@pytest.fixture(scope="module")
def nan_tree(tiny_tree, tmp_path_factory):
    """The tiny tree with a constant V4 voxel in test (subj01) and in train (subj02)."""
    root = tmp_path_factory.mktemp("nan") / "tiny"
    shutil.copytree(tiny_tree, root)
    layout = detect_layout(root)
    arrays = {}
    for split in ("train", "test"):
        with xr.open_dataarray(layout.brainscore_assembly(split)) as opened:
            arrays[split] = opened.load()
    kept = (arrays["train"]["region"].values == "V4") & (arrays["train"]["nc_testset"] > 30)
    for split, subject in (("test", "subj01"), ("train", "subj02")):
        voxel = np.flatnonzero(kept.values & (arrays[split]["subject"].values == subject))[0]
        arrays[split][:, voxel, :] = 0.25
    for split, array in arrays.items():
        write_like(array, layout.brainscore_assembly(split))
    return root


def test_nan_voxels_are_handled_as_brainscore_does(nan_tree):
    theirs = score_real_benchmark(nan_tree, "V4")
    assert np.isnan(theirs["subjects"]["subj01"]["ceiling"])  # np.median propagates NaN
    assert np.isfinite(theirs["ceiling"]) and np.isfinite(theirs["subjects"]["subj02"]["raw"])
    ours = replica_record(nan_tree, "V4")
    assert max_difference(ours, theirs) <= TOLERANCE, (flat(ours), flat(theirs))
    layout = detect_layout(nan_tree)
    synth = scoring.score_region(
        assemblies.load_brainscore_assembly(layout, "train"),
        assemblies.load_brainscore_assembly(layout, "test"),
        tree_activations(nan_tree, "V4"),
        "V4",
    )
    assert max_difference(synth, theirs) <= TOLERANCE, (flat(synth), flat(theirs))
