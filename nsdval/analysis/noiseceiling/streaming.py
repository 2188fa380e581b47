"""Streaming NSD's noise-ceiling SNR over a subject's sessions in bounded memory.

ncsnr needs, for every image shown exactly three times, the variance of its three
session-z-scored responses. Sessions arrive one at a time, so each image's running sum is
kept only while the image is "open" (seen, not yet seen three times) in a pool of slots
that closed images give back. The pool's size is the largest number of images open at
once, worked out from the design before reading any betas.
"""

from __future__ import annotations

import numpy as np

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

    Rows are added in rounds: the first occurrence of every index, then the second, and so
    on, each round one fancy-indexed addition (its indexes are unique). A session shows most
    of its images once, so there are one to three rounds; ``numpy.add.at`` goes row by row,
    a sparse 0/1 summing matrix ran at half this speed on a session of a real surface
    subject and ``numpy.add.reduceat`` over the sorted rows at a third.

    Parameters
    ----------
    target : (n, m) array
        Updated in place.
    index : (k,) int array
        Row of ``target`` for each row of ``rows``.
    rows : (k, m) array
        Values to add.

    Examples
    --------
    >>> target = np.zeros((3, 1))
    >>> add_rows(target, np.array([2, 0, 2]), np.array([[1.0], [2.0], [4.0]]))
    >>> target.ravel().tolist()
    [2.0, 0.0, 5.0]
    """
    index = np.asarray(index)
    if index.size == 0:
        return
    rounds = occurrence_rounds(index)
    if len(rounds) == 1:  # no index repeats
        target[index] += rows
        return
    for chosen in rounds:
        target[index[chosen]] += rows[chosen]


def occurrence_rounds(index):
    """Positions of ``index`` grouped by occurrence: every first occurrence, every second, ...

    Examples
    --------
    >>> [r.tolist() for r in occurrence_rounds(np.array([4, 1, 4, 4]))]
    [[0, 1], [2], [3]]
    """
    order = np.argsort(index, kind="stable")
    ranked = index[order]
    starts = np.flatnonzero(np.concatenate([[True], ranked[1:] != ranked[:-1]]))
    occurrence = np.empty(index.size, dtype=np.int64)
    occurrence[order] = np.arange(index.size) - np.repeat(starts, np.diff([*starts, index.size]))
    return [np.flatnonzero(occurrence == k) for k in range(int(occurrence.max()) + 1)]


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
        self.slot_missing = np.zeros(self.sums.shape, dtype=np.uint8)
        self.within = np.zeros(n_voxels)
        self.counts = np.zeros(n_voxels)

    def add(self, first_trial, z):
        """Add one session's z-scored betas, ``(n_trials, n_voxels)`` from ``first_trial``.

        Only the voxels with a non-finite value this session pay for the NaN bookkeeping
        (the session z-score spreads a NaN trial over its whole session, so they are few).
        """
        trials = np.arange(first_trial, first_trial + z.shape[0])
        slots = self.slots[trials]
        keep = slots >= 0
        slots = slots[keep]
        clean = np.asarray(z if keep.all() else z[keep], dtype=np.float64)
        broken = np.flatnonzero(~np.isfinite(clean).all(axis=0))
        if broken.size:
            clean = clean.copy() if clean is z else clean
            bad = ~np.isfinite(clean[:, broken])
            clean[:, broken] = np.where(bad, 0.0, clean[:, broken])
            missing = self.slot_missing[:, broken]
            add_rows(missing, slots, bad.view(np.uint8))
            self.slot_missing[:, broken] = missing
        add_rows(self.sums, slots, clean)
        add_rows(self.slot_squares, slots, clean * clean)
        self._close(slots[self.closes[trials][keep]])

    def _close(self, closing):
        """Fold the images seen for the last time into the sums; free their slots."""
        if closing.size == 0:
            return
        complete = self.slot_missing[closing] == 0
        sums = self.sums[closing]
        spread = self.slot_squares[closing] - sums * sums / expdesign.N_REPETITIONS
        if complete.all():
            self.within += spread.sum(axis=0)
            self.counts += closing.size
        else:
            self.within += np.where(complete, spread, 0.0).sum(axis=0)
            self.counts += complete.sum(axis=0)
        for running in (self.sums, self.slot_squares, self.slot_missing):
            running[closing] = 0

    def noise_variance(self):
        """Mean over each voxel's complete images of their unbiased variance (NaN if none)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.within / (expdesign.N_REPETITIONS - 1) / self.counts
