import warnings

import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr

from nsdval.analysis.rsa import (
    RsaBenchmark,
    average_ranks,
    rdm,
    rdm_upper_triangle,
    row_correlations,
    rsa_ceiling,
    score_rsa,
    sort_by_stimulus,
    spearman,
    spearman_ranks,
    upper_triangle,
)
from nsdval.errors import ParameterError


def make_region(seed, n_subjects=4, n_images=30, noise=2.0, n_features=50):
    """A model and subjects sharing a latent image structure, each with its own noise."""
    rng = np.random.default_rng(seed)
    latents = rng.normal(size=(n_images, 5))
    subjects = {}
    for index in range(n_subjects):
        n_units = int(rng.integers(10, 60))
        values = latents @ rng.normal(size=(5, n_units)) + noise * rng.normal(
            size=(n_images, n_units)
        )
        subjects[f"subj{index + 1:02d}"] = values.astype(np.float32)
    model = latents @ rng.normal(size=(5, n_features)) + 3.0 * rng.normal(
        size=(n_images, n_features)
    )
    return model, subjects


def scipy_triangle(values):
    matrix = 1.0 - np.corrcoef(np.asarray(values, dtype=np.float64))
    return matrix[np.triu_indices(len(matrix), k=1)]


def scipy_spearman(a, b):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spearmanr(a, b)[0]


def reference_score(model, subjects):
    """The contract's wording, one scipy call per Spearman and one RDM per use."""
    labels = sorted(subjects)
    raws = [scipy_spearman(scipy_triangle(model), scipy_triangle(subjects[s])) for s in labels]
    stack = np.stack([1.0 - np.corrcoef(np.asarray(subjects[s], np.float64)) for s in labels])
    upper, lower = [], []
    for i, label in enumerate(labels):
        own = scipy_triangle(subjects[label])
        mean_all = stack.mean(axis=0)[np.triu_indices(stack.shape[1], k=1)]
        others = np.delete(stack, i, axis=0).mean(axis=0)[np.triu_indices(stack.shape[1], k=1)]
        upper.append(scipy_spearman(own, mean_all))
        lower.append(scipy_spearman(own, others))
    raw, ceiling = np.mean(raws), np.mean(upper)
    return {"raw": raw, "ceiling": ceiling, "lower_bound_loo": np.mean(lower)}, raws


# ------------------------------------------------------------------ RDMs and triangles


def test_rdm_is_one_minus_corrcoef_in_float64(rng):
    values = rng.normal(size=(12, 40)).astype(np.float32) * rng.uniform(0.1, 5.0, size=(12, 1))
    ours = rdm(values)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, 1.0 - np.corrcoef(values.astype(np.float64)), atol=1e-13)
    np.testing.assert_allclose(np.diag(ours), 0.0, atol=1e-13)


def test_rdm_does_not_modify_its_input(rng):
    values = rng.normal(size=(5, 7))
    kept = values.copy()
    rdm(values)
    np.testing.assert_array_equal(values, kept)


def test_a_constant_image_has_nan_dissimilarities_as_corrcoef(rng):
    values = rng.normal(size=(6, 10))
    values[2] = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = 1.0 - np.corrcoef(values)
    ours = rdm(values)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
    assert np.isnan(ours[2]).all() and np.isnan(ours[:, 2]).all()
    assert np.isfinite(np.delete(np.delete(ours, 2, 0), 2, 1)).all()


def test_a_constant_unit_is_one_more_coordinate(rng):
    values = rng.normal(size=(6, 10))
    values[:, 3] = 7.0
    np.testing.assert_allclose(rdm(values), 1.0 - np.corrcoef(values), atol=1e-13)


def test_correlations_are_clipped_to_one():
    correlations = row_correlations([[1.0, 2.0, 4.0]] * 3)
    assert correlations.max() <= 1.0
    np.testing.assert_allclose(correlations, 1.0, atol=1e-15)


def test_upper_triangle_is_triu_indices_k1_in_row_order(rng):
    matrix = rng.normal(size=(7, 7))
    np.testing.assert_array_equal(upper_triangle(matrix), matrix[np.triu_indices(7, k=1)])
    values = rng.normal(size=(9, 4))
    np.testing.assert_allclose(rdm_upper_triangle(values), scipy_triangle(values), atol=1e-13)


# ------------------------------------------------------------------ ranks and Spearman


@pytest.mark.parametrize(
    "vector",
    [
        [3.0, 1.0, 2.0],
        [1.0, 1.0, 1.0, 1.0],
        [2.0, 1.0, 2.0, 3.0, 1.0, 2.0],
        [0.0, -0.0, 1.0],
    ],
)
def test_average_ranks_equal_rankdata(vector):
    np.testing.assert_array_equal(average_ranks(vector), rankdata(vector, method="average"))


def test_average_ranks_equal_rankdata_on_many_ties(rng):
    vector = rng.integers(0, 50, size=5000).astype(np.float64)
    np.testing.assert_array_equal(average_ranks(vector), rankdata(vector))
    vector = rng.normal(size=5000)
    np.testing.assert_array_equal(average_ranks(vector), rankdata(vector))


def test_spearman_equals_scipy_without_and_with_ties(rng):
    a, b = rng.normal(size=200), rng.normal(size=200) + 0.3 * np.arange(200)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b)[0], abs=1e-13)
    a, b = rng.integers(0, 4, size=200), rng.integers(0, 6, size=200)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b)[0], abs=1e-13)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0, abs=1e-15)


def test_spearman_is_nan_for_a_constant_or_nan_vector():
    assert np.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert np.isnan(spearman([1.0, np.nan, 3.0], [1.0, 2.0, 3.0]))
    assert np.isnan(spearman_ranks([2.0, 2.0])).all()


# ------------------------------------------------------------------ the benchmark


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_score_rsa_equals_direct_scipy(seed):
    model, subjects = make_region(seed)
    result = score_rsa(model, subjects)
    expected, raws = reference_score(model, subjects)
    for key, value in expected.items():
        assert getattr(result, key) == pytest.approx(value, abs=1e-12), key
    np.testing.assert_allclose(list(result.subject_raws.values()), raws, atol=1e-12)
    assert result.score == pytest.approx(expected["raw"] / expected["ceiling"], abs=1e-12)


def test_rsa_ceiling_equals_score_rsa_bounds():
    model, subjects = make_region(3)
    result = score_rsa(model, subjects)
    assert rsa_ceiling(subjects) == (result.ceiling, result.lower_bound_loo)


def test_score_is_raw_over_ceiling_not_squared_nor_clipped():
    model, subjects = make_region(4, noise=4.0)
    result = score_rsa(model, subjects)
    assert isinstance(result, RsaBenchmark)
    assert result.score == result.raw / result.ceiling
    assert result.score != pytest.approx(result.raw**2 / result.ceiling)
    perfect = score_rsa(make_region(4, noise=0.0)[1]["subj01"], make_region(4, noise=3.0)[1])
    assert perfect.score == perfect.raw / perfect.ceiling


def test_a_negative_raw_gives_a_negative_score():
    _, subjects = make_region(11)
    for seed in range(20):
        model = np.random.default_rng(seed).normal(size=(30, 10))
        result = score_rsa(model, subjects)
        if result.raw < 0:
            break
    assert result.raw < 0 and result.score == result.raw / result.ceiling < 0


def test_identical_subjects_give_ceiling_one(rng):
    shared = rng.normal(size=(20, 15))
    # Pearson between images ignores each image's offset and scale: the same RDM
    subjects = {"a": shared, "b": 3.0 * shared + 1.0, "c": shared.copy()}
    result = score_rsa(rng.normal(size=(20, 8)), subjects)
    assert result.ceiling == pytest.approx(1.0, abs=1e-12)
    assert result.lower_bound_loo == pytest.approx(1.0, abs=1e-12)


def test_one_subject_has_ceiling_one_and_no_loo_bound(rng):
    model, subjects = make_region(5, n_subjects=1)
    result = score_rsa(model, subjects)
    assert result.ceiling == pytest.approx(1.0, abs=1e-12)
    assert np.isnan(result.lower_bound_loo)
    (values,) = subjects.values()
    assert result.raw == pytest.approx(
        scipy_spearman(scipy_triangle(model), scipy_triangle(values))
    )
    assert result.score == pytest.approx(result.raw, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_loo_bound_is_below_the_ceiling_for_noisy_subjects(seed):
    _, subjects = make_region(seed, n_subjects=5, noise=3.0)
    ceiling, lower = rsa_ceiling(subjects)
    assert 0.0 < lower < ceiling < 1.0


def test_subject_raws_are_sorted_by_label_and_each_its_spearman():
    model, subjects = make_region(6)
    shuffled = {label: subjects[label] for label in ["subj03", "subj01", "subj04", "subj02"]}
    result = score_rsa(model, shuffled)
    assert list(result.subject_raws) == ["subj01", "subj02", "subj03", "subj04"]
    for label, raw in result.subject_raws.items():
        expected = scipy_spearman(scipy_triangle(model), scipy_triangle(subjects[label]))
        assert raw == pytest.approx(expected, abs=1e-12)
    assert result.raw == pytest.approx(np.mean(list(result.subject_raws.values())), abs=1e-15)


def test_a_sequence_of_subjects_is_labelled_by_position():
    model, subjects = make_region(7, n_subjects=3)
    by_position = score_rsa(model, list(subjects.values()))
    assert list(by_position.subject_raws) == [0, 1, 2]
    assert by_position.raw == score_rsa(model, subjects).raw


def test_a_constant_image_makes_every_bound_nan_as_brainscore(rng):
    model, subjects = make_region(8)
    subjects["subj02"] = subjects["subj02"].copy()
    subjects["subj02"][4] = 0.0
    result = score_rsa(model, subjects)
    assert np.isnan(result.subject_raws["subj02"])
    assert np.isfinite(result.subject_raws["subj01"])
    assert np.isnan(result.raw) and np.isnan(result.ceiling)
    assert np.isnan(result.lower_bound_loo) and np.isnan(result.score)


# ------------------------------------------------------------------ image order


def test_sorting_by_stimulus_aligns_a_permuted_model(rng):
    model, subjects = make_region(9, n_images=40)
    ids = np.array([f"nsd_{i:05d}" for i in rng.choice(70000, size=40, replace=False)])
    subject_order = np.argsort(ids)  # the subjects' rows already in id order
    subjects = {label: values[subject_order] for label, values in subjects.items()}
    aligned = score_rsa(model[subject_order], subjects)
    permutation = rng.permutation(40)
    shuffled_model, shuffled_ids = model[permutation], ids[permutation]
    sorted_model, sorted_ids = sort_by_stimulus(shuffled_model, shuffled_ids)
    np.testing.assert_array_equal(sorted_ids, np.sort(ids))
    assert score_rsa(sorted_model, subjects).raw == aligned.raw
    misaligned = score_rsa(shuffled_model, subjects)
    assert abs(misaligned.raw - aligned.raw) > 0.1
    assert misaligned.ceiling == aligned.ceiling


def test_the_ceiling_ignores_an_order_shared_by_all_subjects(rng):
    _, subjects = make_region(10)
    permutation = rng.permutation(30)
    permuted = {label: values[permutation] for label, values in subjects.items()}
    np.testing.assert_allclose(rsa_ceiling(permuted), rsa_ceiling(subjects), atol=1e-12)


def test_sort_by_stimulus_rejects_repeated_or_missing_ids():
    with pytest.raises(ParameterError, match="stimulus_ids.*repeated id 'a'"):
        sort_by_stimulus(np.zeros((3, 2)), ["a", "b", "a"])
    with pytest.raises(ParameterError, match="stimulus_ids.*one per row"):
        sort_by_stimulus(np.zeros((3, 2)), ["a", "b"])


# ------------------------------------------------------------------ parameters


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: rdm(np.zeros(5)), "values"),
        (lambda: rdm(np.zeros((2, 3, 4))), "values"),
        (lambda: upper_triangle(np.zeros((3, 4))), "matrix"),
        (lambda: spearman_ranks(np.zeros((2, 2))), "vector"),
        (lambda: spearman([1.0, 2.0], [1.0, 2.0, 3.0]), "b"),
        (lambda: spearman([1.0], [1.0]), "a"),
        (lambda: score_rsa(np.zeros(5), [np.zeros((5, 2))]), "model_values"),
        (lambda: score_rsa(np.zeros((2, 4)), [np.zeros((2, 2))]), "model_values"),
        (lambda: score_rsa(np.ones((5, 4)), {}), "subject_values"),
        (lambda: rsa_ceiling([]), "subject_values"),
        (lambda: rsa_ceiling([np.ones((5, 4)), np.ones((5, 0))]), "subject_values"),
    ],
)
def test_bad_shapes_name_the_parameter(call, name):
    with pytest.raises(ParameterError) as raised:
        call()
    assert raised.value.name == name


def test_a_subject_with_other_images_is_named(rng):
    subjects = {"subj01": rng.normal(size=(6, 4)), "subj02": rng.normal(size=(5, 4))}
    with pytest.raises(ParameterError, match="subject 'subj02' has 5 images, expected 6"):
        score_rsa(rng.normal(size=(6, 3)), subjects)


def test_threaded_ranking_gives_the_serial_numbers(monkeypatch):
    from nsdval.analysis import rsa

    model, subjects = make_region(12, n_subjects=5)
    monkeypatch.setattr(rsa, "RANK_THREADS", 1)
    serial = score_rsa(model, subjects)
    monkeypatch.setattr(rsa, "RANK_THREADS", 3)
    threaded = score_rsa(model, subjects)
    for key in ("raw", "ceiling", "lower_bound_loo", "score"):
        assert getattr(threaded, key) == getattr(serial, key)
    assert threaded.subject_raws == serial.subject_raws
