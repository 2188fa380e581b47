"""The generator's own ``-rdm`` scorer (:mod:`nsdval.synth.rsa_scoring`).

The expected numbers are recomputed here another way (``np.corrcoef`` for the RDMs,
``scipy.stats.rankdata`` and a Pearson of ranks for Spearman, double loops over pairs),
never with the scorer's helpers.
"""

import itertools

import numpy as np
import pytest
import xarray as xr
from scipy.stats import rankdata

from nsdval.synth.rsa_scoring import (
    benchmark_rows,
    model_triangle,
    rdm_triangle,
    rsa_report,
    spearman,
)


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


def rank_spearman(a, b):
    return float(np.corrcoef(rankdata(a), rankdata(b))[0, 1])


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
