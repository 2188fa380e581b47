"""NSD's noise-ceiling formulas: ncsnr from repetitions, and the ceiling in percent.

``ncsnr = sqrt(max(1 - v, 0)) / sqrt(v)`` with ``v`` the mean within-image variance of the
session-z-scored repetitions; the noise ceiling of an average of ``n`` trials is
``100 ncsnr^2 / (ncsnr^2 + 1/n)`` (NaN -> 0), the assemblies' ``nc_testset`` for ``n = 3``.
The benchmark keeps the neuroids whose ``nc_testset`` exceeds :data:`NC_THRESHOLD`.
"""

from __future__ import annotations

import numpy as np

N_TEST_TRIALS = 3
"""Trials averaged per test image: the ``n`` of ``nc_testset``."""
NC_THRESHOLD = 30.0
"""The benchmark keeps neuroids with ``nc_testset`` strictly above this (percent)."""


def noise_ceiling_snr(reps):
    """NSD's ncsnr per voxel from session-z-scored repetitions.

    Parameters
    ----------
    reps : (n_repetitions, n_images, n_voxels) array
        Every image shown exactly ``n_repetitions`` times, session-z-scored.

    Returns
    -------
    (n_voxels,) float64 array
        ``sqrt(max(1 - v**2, 0)) / v`` with ``v`` the root mean unbiased variance
        across repetitions.
    """
    reps = np.asarray(reps, dtype=np.float64)
    noise_var = reps.var(axis=0, ddof=1).mean(axis=0)
    return ncsnr_from_noise_variance(noise_var)


def ncsnr_from_noise_variance(noise_var):
    """Turn the mean within-image variance of z-scored betas into NSD's ncsnr.

    Examples
    --------
    >>> ncsnr_from_noise_variance(np.array([0.5, 1.0])).round(6).tolist()
    [1.0, 0.0]
    """
    v = np.sqrt(np.asarray(noise_var, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(np.maximum(1.0 - v**2, 0.0)) / v


def noise_ceiling_percent(ncsnr, n_trials=N_TEST_TRIALS, *, nan_to_zero=True):
    """Noise ceiling (percent) of an average of ``n_trials`` trials.

    NaN maps to 0 as the volume packaging does; the surface packaging keeps it
    (``nan_to_zero=False``).

    Examples
    --------
    >>> noise_ceiling_percent(np.array([1.0, np.nan])).round(4).tolist()
    [75.0, 0.0]
    >>> noise_ceiling_percent(np.array([np.nan]), nan_to_zero=False).tolist()
    [nan]
    """
    snr2 = np.asarray(ncsnr, dtype=np.float64) ** 2
    nc = 100.0 * snr2 / (snr2 + 1.0 / n_trials)
    return np.nan_to_num(nc, nan=0.0) if nan_to_zero else nc
