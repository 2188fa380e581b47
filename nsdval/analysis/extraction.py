"""The raw-data bypass: rebuild one subject's region from the raw betas.

Everything is read through the tree's :class:`~nsdval.data.space.DataSpace`. Streams the
subject's sessions one at a time (the next one read in a thread meanwhile), reads only the
region's units, z-scores each session and keeps the repetitions of the requested images as
stored, with each session's mean and std (the z-scores are recomputed from them on use,
:attr:`RegionExtraction.session_z`). Along the way it accumulates NSD's noise-ceiling SNR over
every image shown exactly three times. Only the current session is held in memory as float.

When the space reads units separately (NSD's per-voxel chunks), the units are taken in blocks,
each streamed through every session: every chunk is still read once, and the working
memory (one session's values and the noise-ceiling running sums of the block) stays
within :data:`BLOCK_BYTES` however many sessions and images are open. Other storage
is read in one block, since each block would read the whole session again.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, replace
from functools import cached_property, partial
from pathlib import Path

import numpy as np

from nsdval.analysis import chain
from nsdval.analysis.blockio import column_writes, read_ahead, write_rows
from nsdval.analysis.noiseceiling import formula, streaming
from nsdval.data import expdesign
from nsdval.data.space import psc_from_stored

BLOCK_BYTES = 32 * 2**20
"""Working memory of one voxel block: running sums and one session's arrays."""
SESSION_BYTES_PER_VALUE = 44
"""Bytes per trial and voxel of one session's arrays (int16, float32, float64 and temporaries),
with the next session's stored values read ahead."""
READ_AHEAD = True
"""Read the next session in a thread while the current one is z-scored (:func:`read_ahead`)."""


@dataclass(frozen=True)
class RegionExtraction:
    """One subject's region, rebuilt from the raw betas.

    The session z-scores are not stored: each session's mean and std per unit are, and
    :attr:`session_z` recomputes the z-scores from the raw betas on first use, with the same
    float64 arithmetic, so to the same bits. An extraction holds half the memory (a real
    surface subject's four regions: 171 MB instead of 342 MB), and so does its cache file.

    Attributes
    ----------
    nsd_ids : (n_images,) int64 array
        0-based NSD ids of the images, sorted.
    coords : (n_voxels, n_unit_coords) int64 array
        The units' coordinates (:meth:`~nsdval.data.space.DataSpace.region_units`).
    trials : (n_images, n_repetitions) int64 array
        Global trial index of each repetition.
    betas : (n_repetitions, n_images, n_voxels) array
        The raw betas of each repetition as stored (int16 percent signal change x 300 in
        the volume).
    session_mean, session_std : (n_sessions, n_voxels) float64 arrays
        Each session's mean and std (0 replaced by 1) of every unit's percent signal change:
        the session z-score's statistics.
    ncsnr : (n_voxels,) float64 array
        NSD's noise-ceiling SNR from every image shown three times.
    n_sessions : int
        Sessions read.
    trials_per_session : int
        Trials of each session (a global trial index // this is its session).
    psc_divisor : float
        Stored betas / this, in float32, is percent signal change (300 in the volume, 1 on
        the surface).
    """

    nsd_ids: np.ndarray
    coords: np.ndarray
    trials: np.ndarray
    betas: np.ndarray
    session_mean: np.ndarray
    session_std: np.ndarray
    ncsnr: np.ndarray
    n_sessions: int
    trials_per_session: int
    psc_divisor: float

    @cached_property
    def session_z(self):
        """(n_repetitions, n_images, n_voxels) float32: each repetition z-scored in its session.

        Computed in float64 and stored in float32, as the assemblies are.
        """
        return session_zscores(
            self.betas,
            self.trials.T // self.trials_per_session,
            self.session_mean,
            self.session_std,
            self.psc_divisor,
        )


def select_images(ext, nsd_ids):
    """The images ``nsd_ids`` of an extraction: what extracting only them gives, bit for bit.

    An image's repetitions (its row of ``trials``, its rows of ``betas``) do not depend on
    the other images asked for, and the session statistics and ncsnr do not depend on the
    images at all, so they are kept as they are. Asked for every image it holds, the
    extraction itself is returned (no copy).

    Parameters
    ----------
    ext : RegionExtraction
        An extraction holding (at least) the images.
    nsd_ids : array of int
        0-based NSD ids, in any order (the result's are sorted, as :func:`extract_subject`
        sorts them).

    Returns
    -------
    RegionExtraction

    Raises
    ------
    KeyError
        An image the extraction does not hold (the first one is named).

    Examples
    --------
    >>> one = np.zeros((1, 1))
    >>> ext = RegionExtraction(np.array([3, 7, 9]), np.zeros((1, 3)), np.array([[0], [1], [2]]),
    ...                        np.arange(3).reshape(1, 3, 1), one, one, np.zeros(1), 1, 3, 1.0)
    >>> sub = select_images(ext, [9, 3])
    >>> sub.nsd_ids.tolist(), sub.trials.tolist(), sub.betas.ravel().tolist()
    ([3, 9], [[0], [2]], [0, 2])
    """
    wanted = np.sort(np.asarray(nsd_ids, dtype=np.int64))
    if np.array_equal(wanted, ext.nsd_ids):
        return ext
    rows = np.searchsorted(ext.nsd_ids, wanted)
    found = rows < len(ext.nsd_ids)
    found[found] = ext.nsd_ids[rows[found]] == wanted[found]
    if not found.all():
        raise KeyError(f"image nsd_id {wanted[~found][0]} is not in the extraction")
    return replace(ext, nsd_ids=wanted, trials=ext.trials[rows], betas=ext.betas[:, rows])


def session_zscores(betas, sessions, mean, std, psc_divisor):
    """Z-score stored betas with their session's statistics, in float32.

    Parameters
    ----------
    betas : (n_repetitions, n_images, n_units) array
        Stored betas.
    sessions : (n_repetitions, n_images) int array
        Session index (row of ``mean`` and ``std``) of each repetition.
    mean, std : (n_sessions, n_units) float64 arrays
        Each session's statistics in percent signal change.
    psc_divisor : float
        Stored / this (float32) is percent signal change.

    Returns
    -------
    (n_repetitions, n_images, n_units) float32 array

    Examples
    --------
    >>> z = session_zscores(np.array([[[3.0, 6.0]]]), np.array([[1]]),
    ...                     np.zeros((2, 2)), np.array([[1.0, 1.0], [1.0, 2.0]]), 3)
    >>> z.tolist()
    [[[1.0, 1.0]]]
    """
    out = np.empty(np.shape(betas), dtype=np.float32)
    for session in np.unique(sessions):
        rep, image = np.nonzero(sessions == session)
        psc = psc_from_stored(betas[rep, image], psc_divisor)
        out[rep, image] = chain.standardize(psc, mean[session], std[session])
    return out


class ReadLog:
    """What an extraction read: a SHA-256 of the bytes read from each file, and their total.

    The digests stand for the betas files in the run manifest and fingerprints instead of
    hashing whole files (see :mod:`nsdval.release.manifest`).
    """

    def __init__(self):
        self.digests = {}
        self.bytes_read = 0

    def digest(self, path):
        """The running hash of one file."""
        return self.digests.setdefault(str(path), hashlib.sha256())

    def summary(self):
        """File -> hex digest of the bytes read from it, with the file's size and mtime."""
        out = {}
        for path, digest in sorted(self.digests.items()):
            stat = Path(path).stat()
            out[path] = {
                "sha256": digest.hexdigest(),
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
            }
        return out


def voxel_blocks(n_voxels, n_slots, n_trials, voxel_chunked, budget=None):
    """Split the voxels into blocks whose working memory fits ``budget`` bytes.

    Parameters
    ----------
    n_voxels : int
        Voxels to extract.
    n_slots : int
        Running-sum slots of the noise ceiling (float64 per voxel each).
    n_trials : int
        Trials per session.
    voxel_chunked : bool
        Whether reading a block costs only its voxels (NSD's per-voxel chunks); otherwise
        every block would read the whole volume, so all voxels form one block.
    budget : int or None
        Bytes per block; :data:`BLOCK_BYTES` by default.

    Returns
    -------
    list of slice
        Contiguous blocks of near-equal size, at least two voxels each (a single column
        would be reduced in another summation order, changing the last bit of a z-score).

    Examples
    --------
    >>> voxel_blocks(5, 1, 1, False)
    [slice(0, 5, None)]
    >>> voxel_blocks(7, 0, 1, True, budget=80)
    [slice(0, 2, None), slice(2, 5, None), slice(5, 7, None)]
    """
    if not voxel_chunked:
        return [slice(0, n_voxels)]
    budget = BLOCK_BYTES if budget is None else budget
    per_voxel = 8 * n_slots + SESSION_BYTES_PER_VALUE * n_trials
    n_blocks = max(1, min(-(-n_voxels // max(1, budget // per_voxel)), n_voxels // 2))
    bounds = np.linspace(0, n_voxels, n_blocks + 1).round().astype(int)
    return [slice(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def extract_subject(space, design, subject, regions, nsd_ids, *, log=None, progress=None):
    """Rebuild several regions of one subject in a single pass over its sessions.

    Parameters
    ----------
    space : DataSpace
        The tree's raw files.
    design : ExpDesign
        The experimental design.
    subject : int
        Subject number.
    regions : sequence of str
        Brain-Score regions.
    nsd_ids : (n_images,) array of int
        0-based NSD ids of the images to collect, each shown three times.
    log : ReadLog or None
        Receives a digest of the bytes read from each session file.
    progress : callable or None
        Called after each session read as ``progress(sessions_done, n_sessions, log)``;
        ``sessions_done`` counts fractions of sessions when the voxels are read in blocks.

    Returns
    -------
    dict of str to RegionExtraction

    Raises
    ------
    InputError
        A session file, its chunk index or a chunk the regions need cannot be read.
    """
    nsd_ids = np.sort(np.asarray(nsd_ids, dtype=np.int64))
    sessions = space.sessions(subject)
    coords = {region: space.region_units(subject, region) for region in regions}
    table = expdesign.trial_table(
        design, subject, len(sessions), space.trials_per_session(subject)
    )
    trials = expdesign.repetition_trials(table, nsd_ids)
    log = ReadLog() if log is None else log
    units = np.concatenate(list(coords.values()))
    raw_reps, mean, std, ncsnr = _read_units(space, subject, table, trials, units, log, progress)
    bounds = np.cumsum([0] + [len(c) for c in coords.values()])
    return {
        region: RegionExtraction(
            nsd_ids=nsd_ids,
            coords=coords[region],
            trials=trials,
            betas=raw_reps[..., lo:hi],
            session_mean=mean[:, lo:hi],
            session_std=std[:, lo:hi],
            ncsnr=ncsnr[lo:hi],
            n_sessions=len(sessions),
            trials_per_session=space.trials_per_session(subject),
            psc_divisor=space.psc_divisor,
        )
        for region, lo, hi in zip(coords, bounds[:-1], bounds[1:], strict=True)
    }


def _read_units(space, subject, table, trials, units, log, progress):
    """Stream every session for the units, block by block: raw betas, session stats, ncsnr."""
    sessions = space.sessions(subject)
    n_trials = space.trials_per_session(subject)
    raw_reps = np.zeros((*trials.T.shape, len(units)), dtype=space.stored_dtype)
    mean = np.empty((len(sessions), len(units)))
    std = np.empty((len(sessions), len(units)))
    ncsnr = np.empty(len(units))
    plan = streaming.slot_plan(table)
    accumulator = (
        streaming.FiniteNoiseAccumulator if space.betas_hold_nan else streaming.NoiseAccumulator
    )
    chunked = space.reads_units_separately(subject)
    blocks = voxel_blocks(len(units), plan[2], n_trials, chunked)
    # blocks of units in file order: a block's reads then cover its own part of each file,
    # not every region's spread of it again (4x fewer pages on a surface session)
    order = np.lexsort(np.asarray(units).T[::-1])
    columns = [order[block] for block in blocks]
    calls = (
        partial(space.read_stored, subject, session, units[mine], digest_for=log.digest)
        for mine in columns
        for session in sessions
    )
    # closed on any exit: a read already started is waited for, never left running
    with contextlib.closing(read_ahead(calls, ahead=READ_AHEAD)) as reads:
        for step, mine in enumerate(columns):
            writes = column_writes(mine)
            noise = accumulator(table, mine.size, plan)
            for index in range(len(sessions)):
                betas = next(reads)
                log.bytes_read += betas.nbytes
                if progress is not None:
                    done = (step * len(sessions) + index + 1) / len(blocks)
                    progress(done, len(sessions), log)
                first = index * n_trials
                psc = space.psc(betas)
                centre, scale = chain.zscore_stats(psc)
                mean[index, mine], std[index, mine] = centre, scale
                noise.add(first, chain.standardize(psc, centre, scale))
                image, rep = np.nonzero((trials >= first) & (trials < first + n_trials))
                write_rows(raw_reps, rep, image, betas[trials[image, rep] - first], writes)
            ncsnr[mine] = formula.ncsnr_from_noise_variance(noise.noise_variance())
    return raw_reps, mean, std, ncsnr


def extract_region(space, design, subject, region, nsd_ids):
    """Rebuild one subject's region from raw betas (see :func:`extract_subject`)."""
    return extract_subject(space, design, subject, [region], nsd_ids)[region]


def reference_images(space, design, subjects):
    """The images every subject saw three times within its own sessions (sorted NSD ids).

    Parameters
    ----------
    space : DataSpace
        The tree's raw files; session counts and trials per session come from them.
    design : ExpDesign
        The experimental design.
    subjects : sequence of int
        All subjects of the assemblies.
    """
    tables = []
    for subject in subjects:
        n_sessions, n_trials = len(space.sessions(subject)), space.trials_per_session(subject)
        tables.append(expdesign.trial_table(design, subject, n_sessions, n_trials))
    return expdesign.shared_repeated_images(tables)
