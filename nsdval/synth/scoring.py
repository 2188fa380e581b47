"""The generator's own copy of the ``Allen2022_fmri.REGION-ridge`` benchmark.

Written apart from ``nsdval.analysis.ridge`` so that the scores in ``score.json`` are an
independent reference. It reads the Brain-Score assemblies and the activations as packaged (faults
included) and follows NSD_FORMATS: neuroids of the region with ``nc_testset > 30``; per
subject a ridge (alpha 1, intercept) from features to train responses, Pearson r per voxel
against the test averages, median over voxels; a split-half ceiling over the repetitions.
Missing values are treated as Brain-Score treats them: repetition means and the raw median
skip NaN, so does the region's overall ceiling; a subject's ceiling does not.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.model_selection import ShuffleSplit

NC_THRESHOLD = 30.0
N_SPLITS = 10


def pearson_columns(a, b):
    """Return the Pearson correlation of each column of ``a`` with the same column of ``b``.

    Examples
    --------
    >>> a = np.array([[1.0, 1.0], [2.0, 0.0], [3.0, 2.0]])
    >>> pearson_columns(a, a * [2.0, -1.0]).tolist()
    [1.0, -1.0]
    """
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=0) / np.sqrt((a**2).sum(axis=0) * (b**2).sum(axis=0))


def repetition_cube(test):
    """Return test values as (n_images, n_repetitions, n_neuroids) and the image ids.

    Parameters
    ----------
    test : xarray.DataArray
        Test assembly (presentation, neuroid) with ``stimulus_id`` and ``repetition``.
    """
    images = list(dict.fromkeys(test["stimulus_id"].values.tolist()))
    reps = test["repetition"].values
    row = {image: index for index, image in enumerate(images)}
    cube = np.full((len(images), int(reps.max()) + 1, test.shape[1]), np.nan)
    image_rows = [row[image] for image in test["stimulus_id"].values.tolist()]
    cube[image_rows, reps] = np.asarray(test.values, dtype=np.float64)
    return cube, images


def ceiling(cube, *, pooled=False):
    """Return the split-half ceiling: Spearman-Brown r, median over voxels, mean over splits.

    Parameters
    ----------
    cube : (n_images, 3, n_neuroids) float array
        Test values per repetition.
    pooled : bool
        The region's ceiling over all neuroids, which skips NaN voxels and splits; a
        subject's ceiling (``False``) is NaN as soon as one voxel is.
    """
    splitter = ShuffleSplit(n_splits=N_SPLITS, train_size=0.5, random_state=1)
    median, mean = (np.nanmedian, np.nanmean) if pooled else (np.median, np.mean)
    values = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for half, other in splitter.split(np.arange(cube.shape[1])):
            r = pearson_columns(
                np.nanmean(cube[:, half], axis=1), np.nanmean(cube[:, other], axis=1)
            )
            values.append(median(2 * r / (1 + r)))
        return float(mean(values))


def raw_score(train_x, train_y, test_x, test_y):
    """Return the median Pearson r of ridge predictions against the test averages."""
    model = Ridge(alpha=1.0, fit_intercept=True).fit(train_x, train_y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmedian(pearson_columns(model.predict(test_x), test_y)))


def _features(activations, ids):
    """Return activation rows in the order of ``ids`` (float64)."""
    row = {stimulus: i for i, stimulus in enumerate(activations["stimulus_id"].values.tolist())}
    return np.asarray(activations.values, dtype=np.float64)[[row[i] for i in ids]]


def score_region(train, test, activations, region):
    """Score one region the way the benchmark does.

    Parameters
    ----------
    train, test : xarray.DataArray
        Brain-Score assemblies (presentation, neuroid, time_bin).
    activations : tuple of xarray.DataArray
        Train and test model activations (presentation, neuroid) with ``stimulus_id``.
    region : str
        Region name.

    Returns
    -------
    dict
        ``score``, ``raw``, ``ceiling`` and per-subject ``raw``, ``ceiling``, ``score``.
    """
    keep = (train["region"].values == region) & (train["nc_testset"].values > NC_THRESHOLD)
    train, test = train.isel(time_bin=0, neuroid=keep), test.isel(time_bin=0, neuroid=keep)
    cube, test_ids = repetition_cube(test)
    train_x = _features(activations[0], train["stimulus_id"].values.tolist())
    test_x = _features(activations[1], test_ids)
    train_y = np.asarray(train.values, dtype=np.float64)
    subjects = {}
    for subject in dict.fromkeys(train["subject"].values.tolist()):
        columns = train["subject"].values == subject
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            target = np.nanmean(cube[:, :, columns], axis=1)
        raw = raw_score(train_x, train_y[:, columns], test_x, target)
        subject_ceiling = ceiling(cube[:, :, columns])
        subjects[subject] = {
            "raw": raw,
            "ceiling": subject_ceiling,
            "score": raw**2 / subject_ceiling,
        }
    return {
        "score": float(np.mean([s["score"] for s in subjects.values()])),
        "raw": float(np.mean([s["raw"] for s in subjects.values()])),
        "ceiling": ceiling(cube, pooled=True),
        "subjects": subjects,
    }
