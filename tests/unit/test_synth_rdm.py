"""``score_rdm.json`` of the synthetic tree: the generator's own ``-rdm`` scorer and its faults.

The expected numbers are recomputed here another way (pandas for the rows, ``np.corrcoef``
for the RDMs, ``scipy.stats.rankdata`` and a Pearson of ranks for Spearman, double loops
over pairs), never with the scorer's helpers; the clean files are also checked against
nsdval's replica (:mod:`nsdval.analysis.rsa`), which shares no code with the generator.
"""

import filecmp
import itertools
import json

import numpy as np
import pandas as pd
import pytest
import scipy.io
import xarray as xr
from scipy.stats import rankdata

from nsdval.analysis.rsa import score_rsa
from nsdval.errors import ParameterError
from nsdval.synth import FAULTS, RDM_FAULTS, SURFACE_FAULTS, synthesize
from nsdval.synth.rsa_scoring import (
    benchmark_rows,
    model_triangle,
    rdm_triangle,
    rsa_report,
    spearman,
)

REGIONS = ["V1", "V2", "V4", "IT"]
KEYS = {"raw", "ceiling", "score", "lower_bound_loo", "benchmark", "model", "subjects"}
# family -> (benchmark folder, Brain-Score folder, assembly prefix, suffix)
FAMILIES = {
    "Allen2022_fmri": ("benchmark", "brainscore", "Allen2022_fmri", "_8subj"),
    "Allen2022_fmri_surface": (
        "benchmark_surface",
        "brainscore_surface",
        "Allen2022_fmri_surface",
        "_8subj",
    ),
    "Allen2022_fmri_4subj": ("benchmark_4subj", "brainscore", "Allen2022_fmri", "_4subj"),
    "Allen2022_fmri_surface_4subj": (
        "benchmark_surface_4subj",
        "brainscore_surface",
        "Allen2022_fmri_surface",
        "_4subj",
    ),
}
TINY_FAMILIES = ["Allen2022_fmri", "Allen2022_fmri_surface"]


# ---------------------------------------------------------------- fixtures and readers


def load(path):
    with xr.open_dataarray(path, engine="h5netcdf") as array:
        return array.load()


def report(root, family, region):
    folder = FAMILIES[family][0]
    return json.loads((root / folder / region / "score_rdm.json").read_text())


def family_inputs(root, family, region):
    """The family's Brain-Score train and test assemblies and the region's activations."""
    _, bs_folder, prefix, suffix = FAMILIES[family]
    train, test = (load(root / bs_folder / f"{prefix}_{s}{suffix}.nc") for s in ("train", "test"))
    acts = [
        load(root / FAMILIES[family][0] / region / f"activations_{s}.nc")
        for s in ("train", "test")
    ]
    return train, test, acts


def frame(array, columns=None):
    values = np.asarray(array.values, dtype=np.float64)
    values = values[:, :, 0] if values.ndim == 3 else values
    if columns is not None:
        values = values[:, columns]
    return pd.DataFrame(values, index=array["stimulus_id"].values)


def rows_and_model(root, family, region, averaged=True):
    """Data rows (sorted by stimulus_id), their subjects, and the model's rows, by pandas."""
    train, test, acts = family_inputs(root, family, region)
    keep = (train["region"].values == region) & (train["nc_testset"].values > 30)
    tested = frame(test, keep)
    if averaged:
        tested = tested.groupby(level=0, sort=False).mean()  # pandas' mean skips NaN
    data = pd.concat([frame(train, keep), tested]).sort_index(kind="mergesort")
    features = pd.concat([frame(a) for a in acts])
    features = features[~features.index.duplicated()]
    return data, train["subject"].values[keep], features.loc[data.index]


def loop_triangle(values, same=None):
    """1 - Pearson r of every pair i < j, one np.corrcoef per pair (0 where ``same``)."""
    values = np.asarray(values, dtype=np.float64)
    out = []
    for i, j in itertools.combinations(range(len(values)), 2):
        if same is not None and same[i] == same[j]:
            out.append(0.0)
        else:
            out.append(1.0 - np.corrcoef(values[i], values[j])[0, 1])
    return np.array(out)


def square_triangle(values, same=None):
    """1 - np.corrcoef of all rows at once, its pairs i < j (0 where ``same``)."""
    square = 1.0 - np.corrcoef(np.asarray(values, dtype=np.float64))
    if same is not None:
        square[np.equal.outer(same, same)] = 0.0
    return square[np.triu_indices(len(square), k=1)]


def rank_spearman(a, b):
    return float(np.corrcoef(rankdata(a), rankdata(b))[0, 1])


def expected_report(root, family, region, averaged=True, pooled=False):
    """The ``-rdm`` numbers recomputed from the tree's files (NSD_FORMATS' wording)."""
    data, column_subjects, model_rows = rows_and_model(root, family, region, averaged)
    ids = data.index.to_numpy()
    model = square_triangle(model_rows.to_numpy(), same=ids)
    groups = (
        {"all": np.ones(len(column_subjects), bool)}
        if pooled
        else {s: column_subjects == s for s in dict.fromkeys(column_subjects.tolist())}
    )
    triangles = {s: square_triangle(data.to_numpy()[:, cols]) for s, cols in groups.items()}
    raws = {s: rank_spearman(model, t) for s, t in triangles.items()}
    stack = np.array(list(triangles.values()))
    ceiling = np.mean([rank_spearman(t, stack.mean(axis=0)) for t in stack])
    loo = None  # one pooled subject has no other
    if not pooled:
        others = [np.delete(stack, i, 0).mean(axis=0) for i in range(len(stack))]
        loo = np.mean([rank_spearman(t, o) for t, o in zip(stack, others, strict=True)])
    raw = float(np.mean(list(raws.values())))
    return {
        "raw": raw,
        "ceiling": ceiling,
        "lower_bound_loo": loo,
        "score": raw / ceiling,
        "subjects": raws,
    }


# ---------------------------------------------------------------- the scorer, small cases


def test_triangle_is_the_pairs_in_row_major_order(rng):
    values = rng.normal(size=(7, 5))
    np.testing.assert_allclose(rdm_triangle(values), loop_triangle(values), atol=1e-12)
    assert rdm_triangle(values).dtype == np.float64


def test_spearman_uses_average_ranks_for_ties(rng):
    a = rng.integers(0, 4, size=40).astype(float)  # many ties
    b = a + rng.normal(size=40)
    assert spearman(a, b) == pytest.approx(rank_spearman(a, b), abs=1e-12)
    assert spearman(a, a) == pytest.approx(1.0)


def test_a_model_identical_to_a_subject_has_raw_one_for_it(rng):
    subjects = {f"subj0{i}": rng.normal(size=(9, 6)) for i in (1, 2)}
    model = rdm_triangle(subjects["subj01"])
    result = rsa_report(model, {s: rdm_triangle(v) for s, v in subjects.items()})
    assert result["subjects"]["subj01"]["raw"] == pytest.approx(1.0)
    assert result["subjects"]["subj02"]["raw"] < 0.9
    assert result["raw"] == pytest.approx((1.0 + result["subjects"]["subj02"]["raw"]) / 2)


def test_identical_subjects_have_ceiling_and_bound_one(rng):
    shared = rng.normal(size=(8, 5))
    triangles = {"a": rdm_triangle(shared), "b": rdm_triangle(shared * 3.0 + 1.0)}
    result = rsa_report(rdm_triangle(rng.normal(size=(8, 4))), triangles)
    assert result["ceiling"] == pytest.approx(1.0)
    assert result["lower_bound_loo"] == pytest.approx(1.0)
    assert result["score"] == pytest.approx(result["raw"])


def test_permuting_the_images_alike_changes_nothing(rng):
    model = rng.normal(size=(10, 6))
    subjects = {f"s{i}": rng.normal(size=(10, 4)) + model[:, :4] for i in range(3)}
    order = rng.permutation(10)

    def scored(rows):
        triangles = {s: rdm_triangle(v[rows]) for s, v in subjects.items()}
        return rsa_report(rdm_triangle(model[rows]), triangles)

    first, second = scored(np.arange(10)), scored(order)
    for key in ("raw", "ceiling", "lower_bound_loo", "score"):
        assert first[key] == pytest.approx(second[key], abs=1e-12)


def test_report_agrees_with_a_brute_force_double_loop(rng):
    model = rng.normal(size=(9, 7))
    subjects = {f"s{i}": rng.normal(size=(9, 5)) + model[:, :5] for i in range(4)}
    result = rsa_report(rdm_triangle(model), {s: rdm_triangle(v) for s, v in subjects.items()})
    squares = {s: 1.0 - np.corrcoef(v) for s, v in subjects.items()}
    model_square = 1.0 - np.corrcoef(model)
    pairs = [(i, j) for i in range(9) for j in range(9) if i < j]

    def tri(square):
        return np.array([square[i, j] for i, j in pairs])

    raws = [rank_spearman(tri(model_square), tri(sq)) for sq in squares.values()]
    mean_all = sum(squares.values()) / 4
    ceiling = np.mean([rank_spearman(tri(sq), tri(mean_all)) for sq in squares.values()])
    loo = np.mean(
        [rank_spearman(tri(sq), tri((mean_all * 4 - sq) / 3)) for sq in squares.values()]
    )
    assert result["raw"] == pytest.approx(np.mean(raws), abs=1e-12)
    assert result["ceiling"] == pytest.approx(ceiling, abs=1e-12)
    assert result["lower_bound_loo"] == pytest.approx(loo, abs=1e-12)
    assert result["score"] == pytest.approx(np.mean(raws) / ceiling, abs=1e-12)


def test_rows_average_repetitions_and_sort_by_stimulus_id():
    train = xr.DataArray(
        [[1.0, 2.0], [5.0, 1.0]],
        dims=("presentation", "neuroid"),
        coords={"stimulus_id": ("presentation", ["nsd_00009", "nsd_00002"])},
    )
    test = xr.DataArray(
        [[0.0, 3.0], [2.0, np.nan], [4.0, 5.0]],
        dims=("presentation", "neuroid"),
        coords={
            "stimulus_id": ("presentation", ["nsd_00005"] * 3),
            "repetition": ("presentation", [0, 1, 2]),
        },
    )
    ids, values = benchmark_rows(train, test)
    assert ids.tolist() == ["nsd_00002", "nsd_00005", "nsd_00009"]
    np.testing.assert_array_equal(values, [[5.0, 1.0], [2.0, 4.0], [1.0, 2.0]])
    ids, values = benchmark_rows(train, test, averaged=False)
    assert ids.tolist() == ["nsd_00002", *["nsd_00005"] * 3, "nsd_00009"]
    np.testing.assert_array_equal(values[1:4], test.values)


def test_model_rows_of_one_image_are_at_distance_zero(rng):
    features = rng.normal(size=(3, 6))
    ids = ["a", "b", "c"]
    acts = [
        xr.DataArray(
            features[:2],
            dims=("presentation", "neuroid"),
            coords={"stimulus_id": ("presentation", ids[:2])},
        ),
        xr.DataArray(
            features[2:],
            dims=("presentation", "neuroid"),
            coords={"stimulus_id": ("presentation", ids[2:])},
        ),
    ]
    rows = np.array(["a", "b", "b", "c", "c", "c"])
    expected = loop_triangle(features[[0, 1, 1, 2, 2, 2]], same=rows)
    np.testing.assert_allclose(model_triangle(acts, rows), expected, atol=1e-12)
    with pytest.raises(RuntimeError, match="no activations"):
        model_triangle(acts, np.array(["a", "z"]))


# ---------------------------------------------------------------- the clean tree


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_clean_files_hold_the_recomputed_scores(clean_all, family):
    truth = json.loads((clean_all / "synth.json").read_text())
    summary = truth if family == "Allen2022_fmri" else truth["surface"]
    for region in REGIONS:
        found = report(clean_all, family, region)
        ridge = json.loads((clean_all / FAMILIES[family][0] / region / "score.json").read_text())
        assert set(found) == KEYS
        assert found["benchmark"] == f"{family}.{region}-rdm"
        assert found["model"] == ridge["model"]
        assert list(found["subjects"]) == list(ridge["subjects"])
        assert all(set(entry) == {"raw"} for entry in found["subjects"].values())
        expected = expected_report(clean_all, family, region)
        for key in ("raw", "ceiling", "lower_bound_loo", "score"):
            assert found[key] == pytest.approx(expected[key], abs=1e-7), (region, key)
        for subject, raw in expected["subjects"].items():
            assert found["subjects"][subject]["raw"] == pytest.approx(raw, abs=1e-7)
        assert 0.0 < found["raw"] < found["ceiling"] <= 1.0
        assert summary["scores_rdm"][region] == found["score"]


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_clean_files_agree_with_the_replica(clean_all, family):
    for region in REGIONS:
        found = report(clean_all, family, region)
        data, column_subjects, model_rows = rows_and_model(clean_all, family, region)
        subjects = {
            s: data.to_numpy()[:, column_subjects == s] for s in dict.fromkeys(column_subjects)
        }
        replica = score_rsa(model_rows.to_numpy(), subjects)
        assert found["raw"] == pytest.approx(replica.raw, abs=1e-7)
        assert found["ceiling"] == pytest.approx(replica.ceiling, abs=1e-7)
        assert found["lower_bound_loo"] == pytest.approx(replica.lower_bound_loo, abs=1e-7)
        assert found["score"] == pytest.approx(replica.score, abs=1e-7)


# ---------------------------------------------------------------- the planted faults


def test_the_rdm_faults_are_volume_faults_of_their_own():
    assert list(RDM_FAULTS) == [
        "rdm-ceiling-loo",
        "rdm-score-squared",
        "rdm-repetitions-not-averaged",
        "rdm-subjects-pooled",
    ]
    assert all(text.startswith("score_rdm.json") for text in RDM_FAULTS.values())
    assert not set(RDM_FAULTS) & (set(FAULTS) | set(SURFACE_FAULTS))


@pytest.mark.parametrize(("space", "variant"), [("surface", "8subj"), ("volume", "4subj")])
def test_an_rdm_fault_needs_the_volume_8_subject_files(tmp_path, space, variant):
    with pytest.raises(ParameterError):
        synthesize(tmp_path / "t", space=space, variant=variant, fault="rdm-score-squared")
    assert not (tmp_path / "t").exists()


def _same_numbers(found, clean, keys):
    for key in keys:
        assert found[key] == clean[key], key


def _check_ceiling_loo(found, clean, tree, region):
    assert found["ceiling"] == clean["lower_bound_loo"] != clean["ceiling"]
    assert found["score"] == pytest.approx(clean["raw"] / clean["lower_bound_loo"], rel=1e-12)
    _same_numbers(found, clean, ("raw", "lower_bound_loo", "subjects"))


def _check_score_squared(found, clean, tree, region):
    assert found["score"] == pytest.approx(clean["raw"] ** 2 / clean["ceiling"], rel=1e-12)
    assert found["score"] != clean["score"]
    _same_numbers(found, clean, ("raw", "ceiling", "lower_bound_loo", "subjects"))


def _check_not_averaged(found, clean, tree, region):
    expected = expected_report(tree, "Allen2022_fmri", region, averaged=False)
    for key in ("raw", "ceiling", "lower_bound_loo", "score"):
        assert found[key] == pytest.approx(expected[key], abs=1e-7), key
        assert abs(found[key] - clean[key]) > 1e-6, key
    for subject, raw in expected["subjects"].items():
        assert found["subjects"][subject]["raw"] == pytest.approx(raw, abs=1e-7)


def _check_pooled(found, clean, tree, region):
    expected = expected_report(tree, "Allen2022_fmri", region, pooled=True)
    assert found["raw"] == pytest.approx(expected["raw"], abs=1e-7)
    assert found["raw"] != clean["raw"]
    assert found["ceiling"] == 1.0 and found["score"] == found["raw"]
    assert found["subjects"] == {s: {"raw": found["raw"]} for s in clean["subjects"]}
    assert found["lower_bound_loo"] == clean["lower_bound_loo"]


FAULT_CHECKS = {
    "rdm-ceiling-loo": _check_ceiling_loo,
    "rdm-score-squared": _check_score_squared,
    "rdm-repetitions-not-averaged": _check_not_averaged,
    "rdm-subjects-pooled": _check_pooled,
}


def test_every_rdm_fault_has_a_check():
    assert set(FAULT_CHECKS) == set(RDM_FAULTS)


@pytest.mark.parametrize("fault", list(RDM_FAULTS))
def test_fault_changes_the_volume_rdm_scores_its_way(clean_all, rdm_fault_tree, fault):
    tree = rdm_fault_tree(fault)
    truth = json.loads((tree / "synth.json").read_text())
    assert truth["fault"] == fault and truth["fault_description"] == RDM_FAULTS[fault]
    for region in REGIONS:
        found, clean = (
            report(tree, "Allen2022_fmri", region),
            report(clean_all, "Allen2022_fmri", region),
        )
        assert set(found) == KEYS
        _same_numbers(found, clean, ("benchmark", "model"))
        FAULT_CHECKS[fault](found, clean, tree, region)
        assert truth["scores_rdm"][region] == found["score"]


@pytest.mark.parametrize("fault", list(RDM_FAULTS))
def test_fault_leaves_every_other_file_as_it_is(clean_all, rdm_fault_tree, fault):
    tree = rdm_fault_tree(fault)
    files = sorted(p.relative_to(clean_all) for p in clean_all.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tree) for p in tree.rglob("*") if p.is_file())
    planted = {f"benchmark/{region}/score_rdm.json" for region in REGIONS}
    for path in files:
        name = path.as_posix()
        if name in planted or name == "synth.json":
            continue
        if name.endswith(".mat"):  # its header holds the time it was written
            a, b = (scipy.io.loadmat(root / path) for root in (clean_all, tree))
            assert all(np.array_equal(a[k], b[k]) for k in a if not k.startswith("__"))
            continue
        assert filecmp.cmp(clean_all / path, tree / path, shallow=False), name
    clean, faulty = (json.loads((r / "synth.json").read_text()) for r in (clean_all, tree))
    assert clean["surface"] == faulty["surface"] and clean["scores"] == faulty["scores"]


# ---------------------------------------------------------------- every family (demo)


@pytest.mark.slow  # demo: the only preset with subjects 1, 2, 5 and 7
def test_every_family_has_score_rdm_json(tmp_path):
    root = synthesize(tmp_path / "demo", preset="demo", space="all", variant="both")
    truth = json.loads((root / "synth.json").read_text())
    summaries = {
        "Allen2022_fmri": truth,
        "Allen2022_fmri_surface": truth["surface"],
        "Allen2022_fmri_4subj": truth["variant_4subj"],
        "Allen2022_fmri_surface_4subj": truth["surface"]["variant_4subj"],
    }
    for family, (folder, *_) in FAMILIES.items():
        assert sorted(p.parent.name for p in (root / folder).glob("*/score_rdm.json")) == sorted(
            REGIONS
        )
        for region in REGIONS:
            found = report(root, family, region)
            ridge = json.loads((root / folder / region / "score.json").read_text())
            assert set(found) == KEYS and found["benchmark"] == f"{family}.{region}-rdm"
            assert list(found["subjects"]) == list(ridge["subjects"])
            assert summaries[family]["scores_rdm"][region] == found["score"]
        expected = expected_report(root, family, "V4")
        assert report(root, family, "V4")["score"] == pytest.approx(expected["score"], abs=1e-7)
