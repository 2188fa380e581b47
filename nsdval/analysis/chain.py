"""The reference preprocessing chain, as pure functions on arrays.

The chain that produced the Brain-Score NSD assemblies::

    stored betas -> percent signal change (the data space's scaling: int16 / 300 in the
    volume, :meth:`~nsdval.data.space.DataSpace.psc`)
    -> z-score each voxel over the trials of its session (std 0 -> 1)
    -> the repetitions of each image, chronological -> their mean
    -> z-score each voxel over all images (population std, std 0 -> 1) -> train / test

Test values keep one row per repetition, standardized with the same global statistics.
Everything is computed in float64; no function does I/O or modifies its inputs.
"""

from __future__ import annotations

import numpy as np


def zscore_stats(x, axis=0, ddof=0):
    """Mean and standard deviation along ``axis``, with a zero std replaced by 1.

    Examples
    --------
    >>> mean, std = zscore_stats(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> mean.tolist(), std.tolist()
    ([2.0, 5.0], [1.0, 1.0])
    """
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=axis)
    std = x.std(axis=axis, ddof=ddof)
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


def mean_over_repetitions(reps):
    """Average the repetitions of each image.

    Parameters
    ----------
    reps : (n_repetitions, n_images, n_voxels) array

    Returns
    -------
    (n_images, n_voxels) float64 array
    """
    return np.asarray(reps, dtype=np.float64).mean(axis=0)


def global_zscore(averaged, reps):
    """Standardize averaged images and single repetitions with the averaged images' stats.

    Parameters
    ----------
    averaged : (n_images, n_voxels) array
        Repetition-averaged, session-z-scored values of all images.
    reps : (n_repetitions, n_images, n_voxels) array
        The single repetitions of the same images.

    Returns
    -------
    averaged_z : (n_images, n_voxels) float64 array
    reps_z : (n_repetitions, n_images, n_voxels) float64 array
    """
    mean, std = zscore_stats(averaged, axis=0)
    return standardize(averaged, mean, std), standardize(reps, mean, std)


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
