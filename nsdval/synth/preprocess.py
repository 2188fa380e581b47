"""The generator's own preprocessing chain, written apart from ``nsdval.analysis.chain``.

A bug shared by the generator and the validator would go unseen, so this module repeats the
NSD_FORMATS recipe from scratch: int16 / 300, within-session z-score (population std, std 0
counts as 1), the three chronological repetitions of each image, their mean, and the NSD
ncsnr.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

PSC_SCALE = 300.0


@dataclass(frozen=True)
class Block:
    """One subject's voxels of one region, ready for packaging.

    Parameters
    ----------
    subject : str
        Subject label, ``subj01``.
    region : str
        Region name.
    coords : (n_voxels, 3) int array
        Voxel indexes along the HDF5 spatial axes, in argwhere order.
    ncsnr : (n_voxels,) float array
        NSD ncsnr of each voxel, as stored in ``ncsnr.nii.gz``.
    per_rep : (n_images, 3, n_voxels) float array
        Preprocessed value of each image's repetitions, in chronological order.
    """

    subject: str
    region: str
    coords: np.ndarray
    ncsnr: np.ndarray
    per_rep: np.ndarray


def to_psc(betas, truncate=False):
    """Convert int16 betas to percent signal change.

    Parameters
    ----------
    betas : int16 array
        Stored values.
    truncate : bool
        Drop the fraction (the ``int16-scale`` fault).

    Returns
    -------
    float64 array

    Examples
    --------
    >>> to_psc(np.array([450, -450], dtype=np.int16)).tolist()
    [1.5, -1.5]
    >>> to_psc(np.array([450, -450], dtype=np.int16), truncate=True).tolist()
    [1.0, -1.0]
    """
    psc = np.asarray(betas, dtype=np.float64) / PSC_SCALE
    return np.trunc(psc) if truncate else psc


def session_zscore(values, trials):
    """Z-score each column within each block of ``trials`` rows.

    Parameters
    ----------
    values : (n_sessions * trials, n_voxels) float array
        Trials of consecutive sessions.
    trials : int
        Trials per session.

    Returns
    -------
    (n_sessions * trials, n_voxels) float64 array
        Population std; a constant column gets std 1 (and becomes 0).

    Examples
    --------
    >>> session_zscore(np.array([[1.0], [3.0], [5.0], [5.0]]), 2).ravel().tolist()
    [-1.0, 1.0, 0.0, 0.0]
    """
    sessions = np.asarray(values, dtype=np.float64).reshape(-1, trials, values.shape[1])
    mean = sessions.mean(axis=1, keepdims=True)
    std = sessions.std(axis=1, keepdims=True)
    std[std == 0] = 1.0
    return ((sessions - mean) / std).reshape(values.shape)


def ncsnr(zscored, trial_ids, *, skip_nonfinite=False):
    """Return NSD's noise-ceiling SNR of each voxel (or vertex).

    Parameters
    ----------
    zscored : (n_trials, n_voxels) float array
        Session z-scored betas of all of one subject's trials.
    trial_ids : (n_trials,) int array
        Image shown on each trial; images shown exactly 3 times are used.
    skip_nonfinite : bool
        Leave out, per voxel, the images with a non-finite trial (surface betas hold NaN).

    Returns
    -------
    (n_voxels,) float64 array
        ``sqrt(max(1 - v**2, 0)) / v`` with v the pooled noise std; NaN where no image has
        three finite trials.
    """
    ids, counts = np.unique(trial_ids, return_counts=True)
    triples = np.stack([np.flatnonzero(trial_ids == image) for image in ids[counts == 3]])
    variances = zscored[triples].var(axis=1, ddof=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pooled = np.nanmean(variances, axis=0) if skip_nonfinite else variances.mean(axis=0)
        noise = np.sqrt(pooled)
        return np.sqrt(np.maximum(1.0 - noise**2, 0.0)) / noise


def voxel_columns(brain, mask):
    """Return the positions of a region's voxels among the brain voxels, and their coords.

    Parameters
    ----------
    brain, mask : (Z, Y, X) bool arrays
        Brain and region masks; the region must lie inside the brain.

    Returns
    -------
    columns : (n_voxels,) int array
        Index into ``np.flatnonzero(brain)`` of each region voxel, in argwhere order.
    coords : (n_voxels, 3) int array
        ``np.argwhere(mask)``.
    """
    columns = np.searchsorted(np.flatnonzero(brain), np.flatnonzero(mask))
    return columns, np.argwhere(mask)


def repetitions(values, trial_index):
    """Gather the values of each image's repetitions.

    Parameters
    ----------
    values : (n_trials, n_voxels) float array
        Preprocessed trials.
    trial_index : (n_images, 3) int array
        Chronological trials of each image.

    Returns
    -------
    (n_images, 3, n_voxels) float array
    """
    return values[trial_index]
