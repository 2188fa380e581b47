"""The reference preprocessing chain, as pure functions on arrays.

The chain that produced the Brain-Score NSD assemblies::

    stored betas -> percent signal change (the data space's scaling: int16 / 300 in the
    volume, :meth:`~nsdval.data.space.DataSpace.psc`)
    -> z-score each voxel over the trials of its session (std 0 -> 1)
    -> the repetitions of each image, chronological -> their mean
    -> z-score each voxel over all images (population std, std 0 -> 1) -> train / test

Test values keep one row per repetition, standardized with the same global statistics.
Everything is computed in float64; no function does I/O or modifies its inputs.

Where the raw betas may be NaN (NSD's surface files), the packaging averages repetitions
with ``nanmean``, standardizes with ``nanmean``/``nanstd`` and then writes NaN as 0, each
test repetition on its own (``skipna=True``); the session z-score stays NaN-blind there
too, so a NaN trial makes its vertex NaN for the whole session. Without NaN both forms give
the same numbers.
"""

from __future__ import annotations

import warnings

import numpy as np


def zscore_stats(x, axis=0, ddof=0, *, skipna=False):
    """Mean and standard deviation along ``axis``, with a zero std replaced by 1.

    With ``skipna`` NaN values are left out (a column of NaN only stays NaN).

    Examples
    --------
    >>> mean, std = zscore_stats(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> mean.tolist(), std.tolist()
    ([2.0, 5.0], [1.0, 1.0])
    >>> [v.tolist() for v in zscore_stats(np.array([[1.0], [np.nan], [3.0]]), skipna=True)]
    [[2.0], [1.0]]
    """
    x = np.asarray(x, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        mean = np.nanmean(x, axis=axis) if skipna else x.mean(axis=axis)
        std = np.nanstd(x, axis=axis, ddof=ddof) if skipna else x.std(axis=axis, ddof=ddof)
    std[std == 0] = 1.0
    return mean, std


def standardize(x, mean, std):
    """Return ``(x - mean) / std`` in float64."""
    return (np.asarray(x, dtype=np.float64) - mean) / std


def session_zscore(betas):
    """Z-score each voxel over the trials of one session.

    Parameters
    ----------
    betas : (n_trials, n_voxels) array
        One session's betas of the voxels of interest.

    Returns
    -------
    (n_trials, n_voxels) float64 array
        Population-std z-scores; a voxel constant over the session maps to 0.

    Examples
    --------
    >>> session_zscore(np.array([[1.0, 2.0], [3.0, 2.0]])).tolist()
    [[-1.0, 0.0], [1.0, 0.0]]
    """
    mean, std = zscore_stats(betas, axis=0)
    return standardize(betas, mean, std)


def mean_over_repetitions(reps, *, skipna=False):
    """Average the repetitions of each image (``nanmean`` with ``skipna``).

    Parameters
    ----------
    reps : (n_repetitions, n_images, n_voxels) array
    skipna : bool
        Leave NaN repetitions out; an image with none left stays NaN.

    Returns
    -------
    (n_images, n_voxels) float64 array

    Examples
    --------
    >>> mean_over_repetitions(np.array([[[1.0]], [[np.nan]], [[3.0]]]), skipna=True).tolist()
    [[2.0]]
    """
    reps = np.asarray(reps, dtype=np.float64)
    if not skipna:
        return reps.mean(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(reps, axis=0)


def global_zscore(averaged, reps, *, skipna=False):
    """Standardize averaged images and single repetitions with the averaged images' stats.

    Parameters
    ----------
    averaged : (n_images, n_voxels) array
        Repetition-averaged, session-z-scored values of all images.
    reps : (n_repetitions, n_images, n_voxels) array
        The single repetitions of the same images.
    skipna : bool
        The surface packaging's rule: statistics with ``nanmean``/``nanstd``, then every
        NaN written as 0 (in each repetition on its own).

    Returns
    -------
    averaged_z : (n_images, n_voxels) float64 array
    reps_z : (n_repetitions, n_images, n_voxels) float64 array
    """
    mean, std = zscore_stats(averaged, axis=0, skipna=skipna)
    averaged_z, reps_z = standardize(averaged, mean, std), standardize(reps, mean, std)
    if skipna:
        return np.nan_to_num(averaged_z, nan=0.0), np.nan_to_num(reps_z, nan=0.0)
    return averaged_z, reps_z


def split_indices(n_images, seed=42, train_fraction=0.8):
    """Brain-Score's train/test split of ``n_images`` sorted images.

    ``np.random.RandomState(seed).shuffle`` of the indexes; the first
    ``int(train_fraction * n_images)`` are train. Both index lists are sorted.

    Examples
    --------
    >>> train, test = split_indices(5)
    >>> len(train), len(test), sorted(np.concatenate([train, test]).tolist())
    (4, 1, [0, 1, 2, 3, 4])
    """
    order = np.arange(n_images)
    np.random.RandomState(seed).shuffle(order)
    n_train = int(train_fraction * n_images)
    return np.sort(order[:n_train]), np.sort(order[n_train:])
