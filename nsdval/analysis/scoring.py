"""Brain-Score's ridge-benchmark scoring in plain numpy: per subject, then per region.

Per subject: Pearson r per voxel between the ridge predictions (:mod:`nsdval.analysis.ridge`)
and the repetition-averaged test images, raw = median over voxels, the split-half
internal-consistency ceiling over repetitions (Spearman-Brown corrected, as Brain-Score's
``InternalConsistency``), score = raw ** 2 / ceiling. Per region: the mean of the subjects'
scores and raws, and the ceiling over the pooled voxels. Arrays in, floats out.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from nsdval.analysis.ridge import GramRidge, as_matrix, pearson_columns, ridge_predict
from nsdval.errors import ParameterError


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
    y_train = as_matrix("y_train", y_train)
    predictions = ridge_predict(x_train, y_train, x_test, alpha=alpha)
    return _benchmark_from_predictions(
        predictions, _as_test_reps(test_reps, predictions.shape[0], y_train.shape[1])
    )


def score_subjects(x_train, x_test, y_train, test_reps, groups, *, alpha=1.0):
    """Score every group of voxels (e.g. subject) with one shared :class:`GramRidge`.

    Parameters are those of :func:`score_subject`, plus ``groups``, a (n_voxels,) label per
    voxel. Returns a dict from ``str(label)`` (sorted labels) to :class:`SubjectBenchmark`.
    """
    y_train = as_matrix("y_train", y_train)
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
