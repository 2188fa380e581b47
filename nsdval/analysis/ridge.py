"""Ridge regression and leave-one-out alpha selection in plain numpy.

These functions reproduce, independently of scikit-learn and Brain-Score, the regression
behind the ``Allen2022_fmri.REGION-ridge`` benchmark: a ridge fit with an intercept from
model features to voxels, and Pearson r per voxel (the scoring around it is in
:mod:`nsdval.analysis.scoring`). The module knows nothing about files, subjects or xarray:
arrays in, arrays and floats out.

:class:`GramRidge` eigendecomposes the centred Gram matrix of the training features once and
then solves any number of target sets, alphas and leave-one-out (LOO) errors from that
decomposition. Its LOO errors follow scikit-learn's ``_RidgeGCV``: with an unpenalised
intercept the diagonal of the inverse of ``G = Kc + alpha I`` is corrected by
``(G^-1 1)_i / n``, which equals scikit-learn's older form (add ``1 1^T`` to the Gram matrix
and give the eigenvector closest to the ones vector zero weight).
"""

from __future__ import annotations

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


def as_matrix(name, value):
    """``value`` as a 2-D float64 array; a :class:`ParameterError` naming ``name`` otherwise."""
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
    a, b = as_matrix("a", a), as_matrix("b", b)
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
    x_train, x_test = as_matrix("x_train", x_train), as_matrix("x_test", x_test)
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
        x_train, x_test = as_matrix("x_train", x_train), as_matrix("x_test", x_test)
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
