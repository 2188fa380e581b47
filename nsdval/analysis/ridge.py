"""Ridge regression, leave-one-out alpha selection and split-half ceilings in plain numpy.

These functions reproduce, independently of scikit-learn and Brain-Score, the numbers behind
the ``Allen2022_fmri.REGION-ridge`` benchmark: a ridge fit with an intercept from model
features to voxels, Pearson r per voxel against the repetition-averaged test images, the
median over voxels, and Brain-Score's split-half internal-consistency ceiling. The module
knows nothing about files, subjects or xarray: arrays in, arrays and floats out.

:class:`GramRidge` eigendecomposes the centred Gram matrix of the training features once and
then solves any number of target sets, alphas and leave-one-out (LOO) errors from that
decomposition. Its LOO errors follow scikit-learn's ``_RidgeGCV``: with an unpenalised
intercept the diagonal of the inverse of ``G = Kc + alpha I`` is corrected by
``(G^-1 1)_i / n``, which equals scikit-learn's older form (add ``1 1^T`` to the Gram matrix
and give the eigenvector closest to the ones vector zero weight).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from nsdval.errors import ParameterError

ALPHA_LIST: tuple[float, ...] = tuple(
    float(alpha)
    for alpha in (
        *[0.01, 0.1, 0.5, 1.0],
        *np.linspace(1e1, 1e2, 4, endpoint=False),
        *np.linspace(1e2, 1e3, 18, endpoint=False),
        *np.linspace(1e3, 1e4, 18, endpoint=False),
        *np.linspace(1e4, 1e5, 18, endpoint=False),
        *np.linspace(1e5, 1e6, 18, endpoint=False),
        *np.linspace(1e6, 1e7, 19),
    )
)
"""Brain-Score's 99 ridge alphas (``regression_correlation.metric.ALPHA_LIST``)."""


def _as_matrix(name, value):
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 2:
        raise ParameterError(name, f"expected a 2-D array, got shape {array.shape}")
    return array


def _as_targets(name, value, n_rows):
    array = np.asarray(value, dtype=np.float64)
    if array.ndim not in (1, 2) or array.shape[0] != n_rows:
        raise ParameterError(name, f"expected {n_rows} rows (1-D or 2-D), got {array.shape}")
    return array


def _check_alpha(alpha):
    if not np.isfinite(alpha) or alpha <= 0:
        raise ParameterError("alpha", f"must be a positive finite number, got {alpha!r}")
    return float(alpha)


def _as_alphas(alphas):
    array = np.asarray(alphas, dtype=np.float64)
    if array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array) & (array > 0)):
        problem = f"expected a non-empty 1-D list of positive values, got {array.tolist()[:5]}"
        raise ParameterError("alphas", problem)
    return array


def pearson_columns(a, b):
    """Pearson correlation between matching columns of two matrices.

    Parameters
    ----------
    a, b : (n, k) float array
        Paired observations in rows; column j of ``a`` is correlated with column j of ``b``.

    Returns
    -------
    (k,) float64 array
        Pearson r per column, NaN where either column is constant.

    Examples
    --------
    >>> a = np.array([[1.0, 2.0], [2.0, 2.0], [3.0, 2.0]])
    >>> b = np.array([[2.0, 1.0], [4.0, 0.0], [7.0, 5.0]])
    >>> pearson_columns(a, b).round(4)
    array([0.9934,    nan])
    """
    a, b = _as_matrix("a", a), _as_matrix("b", b)
    if a.shape != b.shape or a.shape[0] < 2:
        raise ParameterError("b", f"shape {b.shape} must equal a's {a.shape}, with >= 2 rows")
    a_centred, b_centred = a - a.mean(axis=0), b - b.mean(axis=0)
    constant = np.all(a == a[:1], axis=0) | np.all(b == b[:1], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        a_unit = a_centred / np.linalg.norm(a_centred, axis=0)
        b_unit = b_centred / np.linalg.norm(b_centred, axis=0)
        r = np.einsum("ij,ij->j", a_unit, b_unit)
    r[constant] = np.nan
    return np.clip(r, -1.0, 1.0)


def ridge_predict(x_train, y_train, x_test, *, alpha=1.0):
    """Predict with a ridge regression with intercept, as ``sklearn.linear_model.Ridge``.

    Parameters
    ----------
    x_train : (n_train, n_features) float array
    y_train : (n_train, n_targets) or (n_train,) float array
    x_test : (n_test, n_features) float array
    alpha : float
        Ridge penalty; the intercept is not penalised.

    Returns
    -------
    (n_test, n_targets) or (n_test,) float64 array
        Predictions; solved in the dual (kernel) form when n_features > n_train.
    """
    x_train, x_test = _as_matrix("x_train", x_train), _as_matrix("x_test", x_test)
    y_train = _as_targets("y_train", y_train, x_train.shape[0])
    alpha = _check_alpha(alpha)
    x_mean, y_mean = x_train.mean(axis=0), y_train.mean(axis=0)
    x_centred, y_centred = x_train - x_mean, y_train - y_mean
    n_samples, n_features = x_centred.shape
    if n_features > n_samples:
        gram = x_centred @ x_centred.T + alpha * np.eye(n_samples)
        coef = x_centred.T @ linalg.solve(gram, y_centred, assume_a="pos")
    else:
        covariance = x_centred.T @ x_centred + alpha * np.eye(n_features)
        coef = linalg.solve(covariance, x_centred.T @ y_centred, assume_a="pos")
    return (x_test - x_mean) @ coef + y_mean


class GramRidge:
    """Ridge regressions with intercept sharing one eigendecomposition of the Gram matrix.

    Parameters
    ----------
    x_train : (n_train, n_features) float array
        Training features; centred with their column means.
    x_test : (n_test, n_features) float array
        Features to predict from, centred with the training means.
    """

    def __init__(self, x_train, x_test):
        x_train, x_test = _as_matrix("x_train", x_train), _as_matrix("x_test", x_test)
        if x_test.shape[1] != x_train.shape[1]:
            raise ParameterError(
                "x_test", f"{x_test.shape[1]} features, x_train has {x_train.shape[1]}"
            )
        x_mean = x_train.mean(axis=0)
        x_centred = x_train - x_mean
        self.n_train, self.n_test = x_train.shape[0], x_test.shape[0]
        self._eigvals, self._eigvecs = linalg.eigh(x_centred @ x_centred.T)
        self._test_basis = ((x_test - x_mean) @ x_centred.T) @ self._eigvecs
        self._ones_coords = self._eigvecs.sum(axis=0)

    def _project(self, y_train):
        y_train = _as_targets("y_train", y_train, self.n_train)
        y_mean = y_train.mean(axis=0)
        return self._eigvecs.T @ (y_train - y_mean), y_mean

    def predict(self, y_train, *, alpha=1.0):
        """Predict the test rows from a ridge fit of ``y_train``, as :func:`ridge_predict`."""
        coords, y_mean = self._project(y_train)
        weights = 1.0 / (self._eigvals + _check_alpha(alpha))
        if coords.ndim == 1:
            return self._test_basis @ (weights * coords) + y_mean
        return self._test_basis @ (weights[:, None] * coords) + y_mean

    def _dual_row_norms(self, coords):
        """Return a function alpha-weights -> sum over targets of the squared dual coefficients."""
        basis = self._eigvecs
        if coords.shape[1] <= self.n_train:
            return lambda weights: np.sum((basis @ (weights[:, None] * coords)) ** 2, axis=1)
        second_moment = coords @ coords.T
        return lambda weights: np.einsum(
            "ij,ij->i", (basis * weights) @ second_moment, basis * weights
        )

    def loo_errors(self, y_train, alphas):
        """Mean squared leave-one-out error per alpha, over samples and targets.

        Parameters
        ----------
        y_train : (n_train, n_targets) or (n_train,) float array
        alphas : sequence of float
            Positive penalties.

        Returns
        -------
        (n_alphas,) float64 array
            The errors whose first minimum scikit-learn's ``RidgeCV`` selects.
        """
        alphas = _as_alphas(alphas)
        coords, _ = self._project(y_train)
        coords = coords.reshape(self.n_train, -1)
        row_norms = self._dual_row_norms(coords)
        squared_basis = self._eigvecs**2
        errors = np.empty(alphas.size)
        for index, alpha in enumerate(alphas):
            weights = 1.0 / (self._eigvals + alpha)
            intercept = self._eigvecs @ (weights * self._ones_coords) / self.n_train
            diagonal = squared_basis @ weights - intercept
            errors[index] = np.sum(row_norms(weights) / diagonal**2) / coords.size
        return errors

    def predict_cv(self, y_train, *, alphas=ALPHA_LIST):
        """Predict with the alpha of lowest leave-one-out error, shared by all targets.

        Returns
        -------
        predictions : (n_test, n_targets) or (n_test,) float64 array
        alpha : float
            The first alpha reaching the minimum error, as ``RidgeCV(alphas).alpha_``.
        """
        alphas = _as_alphas(alphas)
        best = float(alphas[int(np.argmin(self.loo_errors(y_train, alphas)))])
        return self.predict(y_train, alpha=best), best


def ridgecv_predict(x_train, y_train, x_test, *, alphas=ALPHA_LIST):
    """Predict as ``RidgeCV(alphas, fit_intercept=True)``; returns (predictions, alpha)."""
    return GramRidge(x_train, x_test).predict_cv(y_train, alphas=alphas)


def shuffle_split_indices(n, *, n_splits=10, train_size=0.5, random_state=1):
    """Reproduce ``sklearn.model_selection.ShuffleSplit(...).split`` on ``n`` samples.

    Returns
    -------
    list of (train, test) int arrays
        ``floor(train_size * n)`` training and the remaining test indexes per split.

    Examples
    --------
    >>> [(train.tolist(), test.tolist()) for train, test in shuffle_split_indices(3)][:2]
    [([1], [0, 2]), ([0], [1, 2])]
    """
    n_train = int(np.floor(train_size * n))
    if not 0 < train_size < 1 or n_train < 1 or n_train >= n:
        raise ParameterError("train_size", f"{train_size!r} leaves an empty half of {n} samples")
    n_test = n - n_train
    generator = np.random.RandomState(random_state)
    splits = []
    for _ in range(n_splits):
        permutation = generator.permutation(n)
        splits.append((permutation[n_test : n_test + n_train], permutation[:n_test]))
    return splits


def spearman_brown(r, *, factor=2.0):
    """Spearman-Brown prediction ``factor * r / (1 + (factor - 1) * r)``.

    Examples
    --------
    >>> float(spearman_brown(0.5))
    0.6666666666666666
    """
    r = np.asarray(r, dtype=np.float64)
    return factor * r / (1.0 + (factor - 1.0) * r)


def split_half_consistency(reps, *, n_splits=10, random_state=1):
    """Spearman-Brown corrected split-half r per split and voxel.

    Per ShuffleSplit split of the repetition indexes (train_size 0.5), the Pearson r per
    voxel across images between the means of the two halves (NaN repetitions skipped, as
    ``average_repetition`` does), corrected with factor 2.

    Parameters
    ----------
    reps : (n_reps, n_images, n_voxels) float array
        Repetitions in the order of their sorted repetition values.

    Returns
    -------
    (n_splits, n_voxels) float64 array
        NaN where a half mean is constant over images.
    """
    reps = np.asarray(reps, dtype=np.float64)
    if reps.ndim != 3:
        raise ParameterError("reps", f"expected (n_reps, n_images, n_voxels), got {reps.shape}")
    splits = shuffle_split_indices(
        reps.shape[0], n_splits=n_splits, train_size=0.5, random_state=random_state
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.stack(
            [
                spearman_brown(
                    pearson_columns(np.nanmean(reps[h1], axis=0), np.nanmean(reps[h2], axis=0))
                )
                for h1, h2 in splits
            ]
        )


def split_half_ceiling(reps, *, n_splits=10, random_state=1, skipna=True):
    """Brain-Score's internal-consistency ceiling over repetitions.

    The median over voxels of :func:`split_half_consistency`, then the mean over splits.
    Brain-Score aggregates in two ways, chosen by ``skipna``:

    - ``True``: ``InternalConsistency`` itself (xarray's median and mean skip NaN), the
      region's overall ceiling in ``score.json``;
    - ``False``: the per-subject ceiling of ``TrainTestNeuralBenchmark``, ``np.mean`` of
      ``np.median`` over the subject's voxels: one NaN voxel makes it NaN.

    Parameters
    ----------
    reps : (n_reps, n_images, n_voxels) float array
        Repetitions in the order of their sorted repetition values.
    skipna : bool
        Skip NaN voxels and splits.

    Returns
    -------
    float
    """
    consistency = split_half_consistency(reps, n_splits=n_splits, random_state=random_state)
    if not skipna:
        return float(np.mean(np.median(consistency, axis=1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(np.nanmedian(consistency, axis=1)))


def subject_score(raw, ceiling):
    """Ceiling-normalised score ``raw ** 2 / ceiling``.

    Examples
    --------
    >>> subject_score(0.5, 0.5)
    0.5
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(raw) ** 2 / np.float64(ceiling))


@dataclass(frozen=True, eq=False)
class SubjectBenchmark:
    """The benchmark numbers of one subject (``r`` holds the per-voxel Pearson r)."""

    raw: float
    ceiling: float
    score: float
    n_voxels: int
    r: np.ndarray


def _benchmark_from_predictions(predictions, test_reps):
    """One subject as ``TrainTestNeuralBenchmark`` scores it.

    The target averages the repetitions present (``average_repetition`` skips NaN); raw
    is the median r over voxels skipping NaN (xarray's median); the subject ceiling
    propagates NaN (``np.median``), as Brain-Score computes it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = pearson_columns(predictions, np.nanmean(test_reps, axis=0))
        raw = float(np.nanmedian(r))
    ceiling = split_half_ceiling(test_reps, skipna=False)
    return SubjectBenchmark(raw, ceiling, subject_score(raw, ceiling), int(r.size), r)


def _as_test_reps(test_reps, n_test, n_voxels):
    reps = np.asarray(test_reps, dtype=np.float64)
    if reps.ndim != 3 or reps.shape[1:] != (n_test, n_voxels):
        raise ParameterError(
            "test_reps", f"expected (n_reps, {n_test}, {n_voxels}), got {reps.shape}"
        )
    return reps


def score_subject(x_train, x_test, y_train, test_reps, *, alpha=1.0):
    """Score one subject the way ``Allen2022_fmri.REGION-ridge`` does.

    Parameters
    ----------
    x_train, x_test : (n_train, n_features), (n_test, n_features) float arrays
        Model features.
    y_train : (n_train, n_voxels) float array
    test_reps : (n_reps, n_test, n_voxels) float array
        Single-repetition test values; their mean is the prediction target.
    alpha : float
        Ridge penalty (the benchmark uses 1).

    Returns
    -------
    SubjectBenchmark
        raw = median Pearson r, the split-half ceiling, and raw ** 2 / ceiling.
    """
    y_train = _as_matrix("y_train", y_train)
    predictions = ridge_predict(x_train, y_train, x_test, alpha=alpha)
    return _benchmark_from_predictions(
        predictions, _as_test_reps(test_reps, predictions.shape[0], y_train.shape[1])
    )


def score_subjects(x_train, x_test, y_train, test_reps, groups, *, alpha=1.0):
    """Score every group of voxels (e.g. subject) with one shared :class:`GramRidge`.

    Parameters are those of :func:`score_subject`, plus ``groups``, a (n_voxels,) label per
    voxel. Returns a dict from ``str(label)`` (sorted labels) to :class:`SubjectBenchmark`.
    """
    y_train = _as_matrix("y_train", y_train)
    groups = np.asarray(groups)
    if groups.shape != (y_train.shape[1],):
        raise ParameterError(
            "groups", f"expected ({y_train.shape[1]},) labels, got {groups.shape}"
        )
    predictions = GramRidge(x_train, x_test).predict(y_train, alpha=alpha)
    reps = _as_test_reps(test_reps, predictions.shape[0], y_train.shape[1])
    return {
        str(label): _benchmark_from_predictions(
            predictions[:, groups == label], reps[:, :, groups == label]
        )
        for label in np.unique(groups)
    }


def benchmark_summary(subjects, pooled_test_reps):
    """Combine subject results: mean score, mean raw, and the ceiling over pooled voxels.

    Returns
    -------
    dict
        ``{"score": float, "raw": float, "ceiling": float}``; the ceiling is computed over
        all voxels of ``pooled_test_reps`` (skipping NaN, as ``InternalConsistency``), so
        score != raw ** 2 / ceiling in general.
    """
    if not subjects:
        raise ParameterError("subjects", "at least one SubjectBenchmark is needed, got none")
    return {
        "score": float(np.mean([result.score for result in subjects.values()])),
        "raw": float(np.mean([result.raw for result in subjects.values()])),
        "ceiling": split_half_ceiling(pooled_test_reps),
    }
