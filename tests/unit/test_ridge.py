import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.model_selection import ShuffleSplit

from nsdval.analysis.ridge import (
    ALPHA_LIST,
    GramRidge,
    pearson_columns,
    ridge_predict,
    ridgecv_predict,
)
from nsdval.analysis.scoring import (
    SubjectBenchmark,
    benchmark_summary,
    score_subject,
    score_subjects,
    shuffle_split_indices,
    spearman_brown,
    split_half_ceiling,
    split_half_consistency,
    subject_score,
)
from nsdval.errors import ParameterError


def make_regression(seed, n_train, n_features, n_targets, noise, *, signal=1.0, n_test=20):
    """Features with uneven scales and offsets; targets linear in them plus noise."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    x = rng.normal(size=(n, n_features)) * rng.uniform(0.5, 2.0, n_features)
    x += rng.normal(size=n_features)
    weights = signal * rng.normal(size=(n_features, n_targets)) / np.sqrt(n_features)
    y = x @ weights + noise * rng.normal(size=(n, n_targets)) + rng.normal(size=n_targets)
    return x[:n_train], x[n_train:], y[:n_train]


def make_reps(seed, n_reps, n_images, n_voxels):
    """Repetitions sharing a per-voxel signal of varying strength."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n_images, n_voxels)) * rng.uniform(0.0, 2.0, n_voxels)
    return signal + rng.normal(size=(n_reps, n_images, n_voxels)) + rng.normal(size=n_voxels)


def reference_ceiling(reps):
    """NSD_FORMATS wording: ShuffleSplit over repetition values, SB-corrected, median, mean."""
    values = np.arange(reps.shape[0])
    split_medians = []
    for train, test in ShuffleSplit(n_splits=10, train_size=0.5, random_state=1).split(values):
        half1, half2 = reps[values[train]].mean(axis=0), reps[values[test]].mean(axis=0)
        rs = [pearsonr(half1[:, v], half2[:, v])[0] for v in range(reps.shape[2])]
        split_medians.append(np.median([2 * r / (1 + r) for r in rs]))
    return np.mean(split_medians)


def test_alpha_list_is_brainscore_list():
    alphas = np.array(ALPHA_LIST)
    assert len(ALPHA_LIST) == 99
    assert all(isinstance(alpha, float) for alpha in ALPHA_LIST)
    assert np.all(np.diff(alphas) > 0)
    assert alphas[0] == 0.01 and alphas[-1] == 1e7
    assert ALPHA_LIST[:9] == (0.01, 0.1, 0.5, 1.0, 10.0, 32.5, 55.0, 77.5, 100.0)
    assert 32.5 in ALPHA_LIST and 9.5e5 in ALPHA_LIST and 150.0 in ALPHA_LIST
    np.testing.assert_array_equal(alphas[-19:], np.arange(2, 21) * 5e5)


@pytest.mark.parametrize(
    ("n_train", "n_features", "n_targets"), [(60, 400, 7), (80, 30, 5), (40, 40, 3)]
)
@pytest.mark.parametrize("alpha", [1.0, 37.0])
def test_ridge_predict_matches_sklearn(n_train, n_features, n_targets, alpha):
    x_train, x_test, y_train = make_regression(3, n_train, n_features, n_targets, 1.0)
    expected = Ridge(alpha=alpha).fit(x_train, y_train).predict(x_test)
    np.testing.assert_allclose(
        ridge_predict(x_train, y_train, x_test, alpha=alpha), expected, atol=1e-6
    )
    gram = GramRidge(x_train, x_test).predict(y_train, alpha=alpha)
    np.testing.assert_allclose(gram, expected, atol=1e-6)


def test_one_dimensional_targets():
    x_train, x_test, y_train = make_regression(4, 50, 200, 1, 0.5)
    expected = Ridge(alpha=2.0).fit(x_train, y_train[:, 0]).predict(x_test)
    got = ridge_predict(x_train, y_train[:, 0], x_test, alpha=2.0)
    assert got.shape == (20,)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    gram = GramRidge(x_train, x_test)
    np.testing.assert_allclose(gram.predict(y_train[:, 0], alpha=2.0), expected, atol=1e-6)
    predictions, alpha = gram.predict_cv(y_train[:, 0])
    reference = RidgeCV(alphas=ALPHA_LIST).fit(x_train, y_train[:, 0])
    assert alpha == reference.alpha_
    np.testing.assert_allclose(predictions, reference.predict(x_test), atol=1e-6)


# (seed, n_train, n_features, n_targets, noise, signal, where sklearn's alpha_ lies)
RIDGECV_CASES = [
    (0, 60, 400, 8, 0.5, 1.0, "interior"),
    (1, 60, 400, 100, 2.0, 1.0, "interior"),
    (2, 80, 30, 5, 1.0, 1.0, "interior"),
    (3, 200, 20, 150, 3.0, 1.0, "interior"),
    (5, 50, 300, 3, 10.0, 1.0, "interior"),
    (8, 60, 400, 6, 1.0, 0.0, "last"),
    (8, 100, 10, 4, 1e-3, 1.0, "first"),
]


@pytest.mark.parametrize(
    ("seed", "n_train", "n_features", "n_targets", "noise", "signal", "where"), RIDGECV_CASES
)
def test_predict_cv_matches_ridgecv(seed, n_train, n_features, n_targets, noise, signal, where):
    x_train, x_test, y_train = make_regression(
        seed, n_train, n_features, n_targets, noise, signal=signal
    )
    reference = RidgeCV(alphas=ALPHA_LIST, fit_intercept=True).fit(x_train, y_train)
    position = ALPHA_LIST.index(reference.alpha_)
    assert where == {0: "first", len(ALPHA_LIST) - 1: "last"}.get(position, "interior")
    predictions, alpha = GramRidge(x_train, x_test).predict_cv(y_train, alphas=ALPHA_LIST)
    assert alpha == reference.alpha_
    np.testing.assert_allclose(predictions, reference.predict(x_test), atol=1e-6)
    predictions, alpha = ridgecv_predict(x_train, y_train, x_test)
    assert alpha == reference.alpha_
    np.testing.assert_allclose(predictions, reference.predict(x_test), atol=1e-6)


@pytest.mark.parametrize(("n_train", "n_features", "n_targets"), [(60, 400, 8), (60, 400, 90)])
def test_loo_errors_match_sklearn_cv_results(n_train, n_features, n_targets):
    x_train, x_test, y_train = make_regression(9, n_train, n_features, n_targets, 1.5)
    reference = RidgeCV(alphas=ALPHA_LIST, store_cv_results=True).fit(x_train, y_train)
    expected = reference.cv_results_.mean(axis=(0, 1))
    errors = GramRidge(x_train, x_test).loo_errors(y_train, ALPHA_LIST)
    np.testing.assert_allclose(errors, expected, rtol=1e-8)


def test_pearson_columns_matches_scipy():
    rng = np.random.default_rng(11)
    a = rng.normal(size=(30, 6)) * 5 + 3
    b = 0.4 * a + rng.normal(size=(30, 6))
    expected = [pearsonr(a[:, j], b[:, j])[0] for j in range(6)]
    np.testing.assert_allclose(pearson_columns(a, b), expected, atol=1e-10)


def test_pearson_columns_constant_column_is_nan():
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=(10, 3)), rng.normal(size=(10, 3))
    a[:, 0] = 0.1
    b[:, 2] = -7.3
    r = pearson_columns(a, b)
    assert np.isnan(r[0]) and np.isnan(r[2]) and np.isfinite(r[1])


def test_pearson_columns_rejects_mismatched_shapes():
    with pytest.raises(ParameterError, match="must equal"):
        pearson_columns(np.zeros((5, 2)), np.zeros((5, 3)))


@pytest.mark.parametrize(("n", "train_size"), [(3, 0.5), (10, 0.5), (7, 0.3)])
def test_shuffle_split_indices_match_sklearn(n, train_size):
    splitter = ShuffleSplit(n_splits=10, train_size=train_size, random_state=1)
    expected = list(splitter.split(np.zeros(n)))
    got = shuffle_split_indices(n, n_splits=10, train_size=train_size, random_state=1)
    assert len(got) == len(expected) == 10
    for (train, test), (train_ref, test_ref) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(train, train_ref)
        np.testing.assert_array_equal(test, test_ref)


def test_shuffle_split_indices_rejects_empty_half():
    with pytest.raises(ParameterError, match="train_size"):
        shuffle_split_indices(1)


@pytest.mark.parametrize(("seed", "n_reps"), [(13, 3), (14, 4)])
def test_split_half_ceiling_matches_reference(seed, n_reps):
    reps = make_reps(seed, n_reps, 40, 25)
    assert split_half_ceiling(reps) == pytest.approx(reference_ceiling(reps), abs=1e-10)


def test_spearman_brown():
    np.testing.assert_allclose(spearman_brown([0.0, 0.5, 1.0]), [0.0, 2 / 3, 1.0])


def test_score_subject_matches_sklearn():
    x_train, x_test, y_train = make_regression(15, 60, 300, 12, 1.0)
    prediction = Ridge(alpha=1.0).fit(x_train, y_train).predict(x_test)
    test_reps = make_reps(15, 3, 20, 12) + prediction
    test_mean = test_reps.mean(axis=0)
    rs = [pearsonr(prediction[:, v], test_mean[:, v])[0] for v in range(12)]
    result = score_subject(x_train, x_test, y_train, test_reps, alpha=1.0)
    assert isinstance(result, SubjectBenchmark)
    assert result.n_voxels == 12
    np.testing.assert_allclose(result.r, rs, atol=1e-8)
    assert result.raw == pytest.approx(np.median(rs), abs=1e-8)
    assert result.ceiling == pytest.approx(reference_ceiling(test_reps), abs=1e-10)
    assert result.score == pytest.approx(np.median(rs) ** 2 / result.ceiling, abs=1e-8)


def test_score_subjects_equals_per_group_scores():
    x_train, x_test, y_train = make_regression(16, 50, 200, 30, 1.0)
    test_reps = make_reps(16, 3, 20, 30)
    groups = np.repeat(["subj02", "subj01", "subj03"], 10)
    results = score_subjects(x_train, x_test, y_train, test_reps, groups, alpha=1.0)
    assert list(results) == ["subj01", "subj02", "subj03"]
    for label, result in results.items():
        mask = groups == label
        single = score_subject(x_train, x_test, y_train[:, mask], test_reps[:, :, mask])
        np.testing.assert_allclose(result.r, single.r, atol=1e-10)
        assert result.n_voxels == single.n_voxels == 10
        for field in ("raw", "ceiling", "score"):
            assert getattr(result, field) == pytest.approx(getattr(single, field), abs=1e-10)


def test_benchmark_summary():
    rng = np.random.default_rng(17)
    subjects = {
        "subj01": SubjectBenchmark(0.4, 0.5, subject_score(0.4, 0.5), 3, rng.random(3)),
        "subj02": SubjectBenchmark(0.2, 0.4, subject_score(0.2, 0.4), 3, rng.random(3)),
    }
    pooled = make_reps(17, 3, 20, 6)
    summary = benchmark_summary(subjects, pooled)
    assert summary == pytest.approx(
        {"score": (0.32 + 0.1) / 2, "raw": 0.3, "ceiling": reference_ceiling(pooled)}
    )
    with pytest.raises(ParameterError, match="at least one"):
        benchmark_summary({}, pooled)


def test_subject_score():
    assert subject_score(0.3785, 0.4233) == pytest.approx(0.3785**2 / 0.4233)


def test_inputs_not_modified():
    x_train, x_test, y_train = make_regression(18, 40, 100, 6, 1.0)
    test_reps = make_reps(18, 3, 20, 6)
    groups = np.array(["a", "b"] * 3)
    inputs = (x_train, x_test, y_train, test_reps, groups)
    copies = [array.copy() for array in inputs]
    ridge_predict(x_train, y_train, x_test)
    gram = GramRidge(x_train, x_test)
    gram.predict_cv(y_train)
    gram.loo_errors(y_train, [1.0, 10.0])
    pearson_columns(y_train, y_train[::-1])
    split_half_ceiling(test_reps)
    score_subject(x_train, x_test, y_train, test_reps)
    score_subjects(x_train, x_test, y_train, test_reps, groups)
    for array, copy in zip(inputs, copies, strict=True):
        np.testing.assert_array_equal(array, copy)


def test_bad_parameters_raise():
    x_train, x_test, y_train = make_regression(19, 20, 10, 2, 1.0)
    with pytest.raises(ParameterError, match="alpha"):
        ridge_predict(x_train, y_train, x_test, alpha=0.0)
    with pytest.raises(ParameterError, match="alphas"):
        GramRidge(x_train, x_test).loo_errors(y_train, [])
    with pytest.raises(ParameterError, match="y_train"):
        GramRidge(x_train, x_test).predict(y_train[:5])
    with pytest.raises(ParameterError, match="x_test"):
        GramRidge(x_train, x_test[:, :3])
    with pytest.raises(ParameterError, match="test_reps"):
        score_subject(x_train, x_test, y_train, np.zeros((3, 20, 5)))
    with pytest.raises(ParameterError, match="groups"):
        score_subjects(x_train, x_test, y_train, np.zeros((3, 20, 2)), ["a"])
    with pytest.raises(ParameterError, match="reps"):
        split_half_ceiling(np.zeros((3, 4)))


def test_split_half_ceiling_skips_nan_voxels_only_when_asked():
    reps = make_reps(20, 3, 20, 6)
    reps[:, :, 2] = 0.5  # a constant voxel: its split-half r is NaN
    consistency = split_half_consistency(reps)
    assert consistency.shape == (10, 6)
    assert np.isnan(consistency[:, 2]).all() and np.isfinite(consistency[:, [0, 1, 3]]).all()
    pooled = split_half_ceiling(reps)  # InternalConsistency: xarray's median skips NaN
    assert pooled == pytest.approx(np.mean(np.nanmedian(consistency, axis=1)))
    assert np.isnan(split_half_ceiling(reps, skipna=False))  # a subject's ceiling: np.median


def test_a_missing_repetition_is_skipped_in_the_target_as_average_repetition_does():
    x_train, x_test, y_train = make_regression(21, 40, 100, 5, 1.0)
    test_reps = make_reps(21, 3, 20, 5)
    prediction = Ridge(alpha=1.0).fit(x_train, y_train).predict(x_test)
    test_reps[2, 4] = np.nan  # image 4 lacks its third repetition
    result = score_subject(x_train, x_test, y_train, test_reps)
    target = np.nanmean(test_reps, axis=0)
    rs = [pearsonr(prediction[:, v], target[:, v])[0] for v in range(5)]
    np.testing.assert_allclose(result.r, rs, atol=1e-8)


def test_raw_skips_voxels_with_constant_predictions():
    x_train, x_test, y_train = make_regression(22, 40, 100, 5, 1.0)
    y_train[:, 1] = 2.0  # predicted as a constant: r is NaN
    result = score_subject(x_train, x_test, y_train, make_reps(22, 3, 20, 5))
    assert np.isnan(result.r[1])
    assert result.raw == pytest.approx(np.median(np.delete(result.r, 1)))
