"""Streaming NSD's noise-ceiling SNR over a subject's sessions in bounded memory.

ncsnr needs, for every image shown exactly three times, the variance of its three
session-z-scored responses. Sessions arrive one at a time, so each image's running sum is
kept only while the image is "open" (seen, not yet seen three times) in a pool of slots
that closed images give back. The pool's size is the largest number of images open at
once, worked out from the design before reading any betas.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from nsdval.data import expdesign


def slot_plan(table, n_repetitions=expdesign.N_REPETITIONS):
    """Assign each trial of a three-times-shown image a running-sum slot.

    A slot freed by an image's last presentation is reused only from the next session on,
    so a session's updates never mix two images in one slot.

    Parameters
    ----------
    table : pandas.DataFrame
        A :func:`~nsdval.data.expdesign.trial_table`.
    n_repetitions : int
        Presentations that make an image count.

    Returns
    -------
    slots : (n_trials,) int64 array
        Slot of each trial, -1 for trials of images not shown ``n_repetitions`` times.
    closes : (n_trials,) bool array
        True at each image's last presentation.
    n_slots : int
        Pool size.
    """
    ids = expdesign.images_with_repetitions(table, n_repetitions)
    counted = table["nsd_id"].isin(ids).to_numpy()
    last = counted & (table["repetition"].to_numpy() == n_repetitions - 1)
    slots = np.full(len(table), -1, dtype=np.int64)
    free, pending, owner, n_slots = [], [], {}, 0
    sessions = table["session"].to_numpy()
    nsd = table["nsd_id"].to_numpy()
    for trial in np.flatnonzero(counted):
        if trial and sessions[trial] != sessions[trial - 1]:
            free.extend(pending)
            pending = []
        image = nsd[trial]
        if image not in owner:
            owner[image] = free.pop() if free else n_slots
            n_slots = max(n_slots, owner[image] + 1)
        slots[trial] = owner[image]
        if last[trial]:
            pending.append(owner.pop(image))
    return slots, last, n_slots


def add_rows(target, index, rows):
    """``target[index] += rows`` with repeated indexes summed, like :func:`numpy.add.at`.

    The rows are summed per index by a sparse 0/1 matrix product, then added to the rows of
    ``target`` with one fancy-indexed addition (the indexes are then unique).
    ``numpy.add.at`` goes row by row and was a third of a subject's extraction; this is
    2-3x faster at a session's size (750 trials x 11 074 voxels).

    Parameters
    ----------
    target : (n, m) array
        Updated in place.
    index : (k,) int array
        Row of ``target`` for each row of ``rows``.
    rows : (k, m) array
        Values to add.
    """
    if index.size == 0:
        return
    unique, position = np.unique(index, return_inverse=True)
    ones = np.ones(index.size, dtype=rows.dtype)
    summing = scipy.sparse.csr_matrix(
        (ones, (position, np.arange(index.size))), shape=(unique.size, index.size)
    )
    target[unique] += summing @ rows


class NoiseAccumulator:
    """Running sums for the mean within-image variance, fed one session at a time.

    Parameters
    ----------
    table : pandas.DataFrame
        The subject's trial table.
    n_voxels : int
        Voxels per session block.
    plan : tuple or None
        The table's :func:`slot_plan`, when already computed.
    """

    def __init__(self, table, n_voxels, plan=None):
        self.slots, self.closes, n_slots = plan if plan is not None else slot_plan(table)
        self.sums = np.zeros((n_slots, n_voxels))
        self.sum_squares = np.zeros(n_voxels)
        self.sum_of_squared_sums = np.zeros(n_voxels)
        self.n_images = int(self.closes.sum())

    @property
    def n_slots(self):
        """Images held open at the same time, at most."""
        return self.sums.shape[0]

    def add(self, first_trial, z):
        """Add one session's z-scored betas, ``(n_trials, n_voxels)`` from ``first_trial``."""
        trials = np.arange(first_trial, first_trial + z.shape[0])
        slots = self.slots[trials]
        keep = slots >= 0
        kept = z if keep.all() else z[keep]
        add_rows(self.sums, slots[keep], kept)
        self.sum_squares += np.einsum("tv,tv->v", kept, kept)
        closing = slots[self.closes[trials]]
        closed = self.sums[closing]
        self.sum_of_squared_sums += np.einsum("iv,iv->v", closed, closed)
        self.sums[closing] = 0.0

    def noise_variance(self):
        """Mean over images of the unbiased variance across their presentations."""
        n = expdesign.N_REPETITIONS
        within = self.sum_squares - self.sum_of_squared_sums / n
        return within / (n - 1) / max(self.n_images, 1)


class FiniteNoiseAccumulator(NoiseAccumulator):
    """:class:`NoiseAccumulator` leaving out, voxel by voxel, every image with a NaN trial.

    NSD's surface betas hold NaN; an image counts for a vertex only when its three
    presentations are finite there (a vertex NaN in one session keeps a finite ncsnr from
    its other images; one with no complete image gets NaN). Each open image keeps its own
    sum of squares and count of non-finite presentations beside the running sum.
    """

    def __init__(self, table, n_voxels, plan=None):
        super().__init__(table, n_voxels, plan)
        self.slot_squares = np.zeros_like(self.sums)
        self.slot_missing = np.zeros_like(self.sums)
        self.within = np.zeros(n_voxels)
        self.counts = np.zeros(n_voxels)

    def add(self, first_trial, z):
        """Add one session's z-scored betas, ``(n_trials, n_voxels)`` from ``first_trial``."""
        trials = np.arange(first_trial, first_trial + z.shape[0])
        slots = self.slots[trials]
        keep = slots >= 0
        kept = np.asarray(z if keep.all() else z[keep], dtype=np.float64)
        finite = np.isfinite(kept)
        clean = np.where(finite, kept, 0.0)
        add_rows(self.sums, slots[keep], clean)
        add_rows(self.slot_squares, slots[keep], clean * clean)
        add_rows(self.slot_missing, slots[keep], (~finite).astype(np.float64))
        closing = slots[self.closes[trials]]
        complete = self.slot_missing[closing] == 0
        sums = self.sums[closing]
        spread = self.slot_squares[closing] - sums * sums / expdesign.N_REPETITIONS
        self.within += np.where(complete, spread, 0.0).sum(axis=0)
        self.counts += complete.sum(axis=0)
        for running in (self.sums, self.slot_squares, self.slot_missing):
            running[closing] = 0.0

    def noise_variance(self):
        """Mean over each voxel's complete images of their unbiased variance (NaN if none)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.within / (expdesign.N_REPETITIONS - 1) / self.counts
