"""The raw-data bypass: rebuild one subject's region from the HDF5 betas.

Streams the subject's sessions one at a time, reads only the region's voxels, z-scores
each session and keeps the repetitions of the requested images, raw and z-scored. Along
the way it accumulates NSD's noise-ceiling SNR over every image shown exactly three
times. Only the current session is held in memory as float.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nsdval import chain, expdesign, raw
from nsdval.errors import InputError


@dataclass(frozen=True)
class RegionExtraction:
    """One subject's region, rebuilt from the raw betas.

    Attributes
    ----------
    nsd_ids : (n_images,) int64 array
        0-based NSD ids of the images, sorted.
    coords : (n_voxels, 3) int64 array
        Voxel indexes along the HDF5 spatial axes, argwhere order.
    trials : (n_images, n_repetitions) int64 array
        Global trial index of each repetition.
    raw : (n_repetitions, n_images, n_voxels) float32 array
        Percent signal change of each repetition.
    session_z : (n_repetitions, n_images, n_voxels) float64 array
        The same values z-scored within their session.
    ncsnr : (n_voxels,) float64 array
        NSD's noise-ceiling SNR from every image shown three times.
    n_sessions : int
        Sessions read.
    """

    nsd_ids: np.ndarray
    coords: np.ndarray
    trials: np.ndarray
    raw: np.ndarray
    session_z: np.ndarray
    ncsnr: np.ndarray
    n_sessions: int


class _NoiseAccumulator:
    """Running sums for the mean within-image variance of three-times-shown images."""

    def __init__(self, table, n_voxels):
        ids = expdesign.images_with_repetitions(table)
        self.image_of_trial = np.full(len(table), -1, dtype=np.int64)
        rows = table["nsd_id"].isin(ids).to_numpy()
        self.image_of_trial[rows] = np.searchsorted(ids, table["nsd_id"].to_numpy()[rows])
        self.sums = np.zeros((ids.size, n_voxels))
        self.sum_squares = np.zeros(n_voxels)
        self.n_images = ids.size

    def add(self, trials, z):
        images = self.image_of_trial[trials]
        keep = images >= 0
        np.add.at(self.sums, images[keep], z[keep])
        self.sum_squares += np.square(z[keep]).sum(axis=0)

    def noise_variance(self):
        n = expdesign.N_REPETITIONS
        within = self.sum_squares - np.square(self.sums).sum(axis=0) / n
        return within / (n - 1) / max(self.n_images, 1)


def _stream_sessions(layout, subject, sessions, shape, coords):
    """Yield (first global trial, (n_trials, n_voxels) PSC) for each session in turn."""
    for index, session in enumerate(sessions):
        path = layout.betas(subject, session)
        found = raw.betas_shape(path)
        if found != shape:
            raise InputError(path, f"/betas shape {found} differs from session 1's {shape}")
        yield index * shape[0], raw.read_psc(path, coords)


def extract_region(layout, design, subject, region, nsd_ids):
    """Rebuild one subject's region from raw betas.

    Parameters
    ----------
    layout : NsdLayout
        The tree.
    design : ExpDesign
        The experimental design.
    subject : int
        Subject number.
    region : str
        Brain-Score region.
    nsd_ids : (n_images,) array of int
        0-based NSD ids of the images to collect, each shown three times.

    Returns
    -------
    RegionExtraction
    """
    nsd_ids = np.sort(np.asarray(nsd_ids, dtype=np.int64))
    sessions = layout.sessions(subject)
    shape = raw.betas_shape(layout.betas(subject, sessions[0]))
    mask = raw.region_mask(layout, subject, region)
    raw.check_mask_matches(mask, layout.betas(subject, sessions[0]), shape[1:], subject)
    coords = raw.voxel_coordinates(mask)
    if coords.size == 0:
        raise InputError(layout.roi_dir(subject), f"no voxel of region {region}")
    table = expdesign.trial_table(design, subject, len(sessions), shape[0])
    trials = expdesign.repetition_trials(table, nsd_ids)
    n_reps = trials.shape[1]
    raw_reps = np.zeros((n_reps, nsd_ids.size, len(coords)), dtype=np.float32)
    z_reps = np.zeros((n_reps, nsd_ids.size, len(coords)))
    noise = _NoiseAccumulator(table, len(coords))
    for first, psc in _stream_sessions(layout, subject, sessions, shape, coords):
        z = chain.session_zscore(psc)
        noise.add(np.arange(first, first + shape[0]), z)
        image, rep = np.nonzero((trials >= first) & (trials < first + shape[0]))
        raw_reps[rep, image] = psc[trials[image, rep] - first]
        z_reps[rep, image] = z[trials[image, rep] - first]
    ncsnr = chain.ncsnr_from_noise_variance(noise.noise_variance())
    return RegionExtraction(nsd_ids, coords, trials, raw_reps, z_reps, ncsnr, len(sessions))


def reference_images(layout, design, subjects):
    """The images every subject saw three times within its own sessions (sorted NSD ids).

    Parameters
    ----------
    layout : NsdLayout
        The tree; session counts and trials per session come from its files.
    design : ExpDesign
        The experimental design.
    subjects : sequence of int
        All subjects of the assemblies.
    """
    tables = []
    for subject in subjects:
        sessions = layout.sessions(subject)
        n_trials = raw.betas_shape(layout.betas(subject, sessions[0]))[0]
        tables.append(expdesign.trial_table(design, subject, len(sessions), n_trials))
    return expdesign.shared_repeated_images(tables)
