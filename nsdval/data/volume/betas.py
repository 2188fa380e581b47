"""NSD's volume betas: the ROI voxels of one session's ``betas_sessionNN.hdf5``.

A session's ``/betas`` is int16 (trials, Z, Y, X); voxel ``(i, j, k)`` is
``betas[:, i, j, k]``. This is the only place that opens a betas HDF5 file.

Betas are read one session at a time and only at the wanted voxels, with a read chosen
from the dataset's storage: one direct chunk read per voxel for NSD's (trials, 1, 1, 1)
chunks, a bounding-box hyperslab otherwise, with the kernel's read-ahead off. Values come
back as stored (int16); the only arithmetic here is the documented int16 -> percent signal
change scaling.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from nsdval.data import watched
from nsdval.data.space import psc_from_stored
from nsdval.errors import InputError, MissingInputError

PSC_SCALE = 300.0
"""Stored betas are percent signal change x 300 (int16)."""


def psc_from_int16(values):
    """Convert stored int16 betas to percent signal change (float32).

    Examples
    --------
    >>> psc_from_int16(np.array([300, -150], dtype=np.int16)).tolist()
    [1.0, -0.5]
    """
    return psc_from_stored(values, PSC_SCALE)


BETAS_DATASET = "betas"


def _open_betas(path):
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, "betas session file")
    watched.heartbeat(path)
    try:
        handle = h5py.File(path, "r")
    except Exception as exc:  # h5py raises OSError, RuntimeError, ... for damaged files
        raise InputError(path, f"not a readable HDF5 file ({exc})") from None
    advise_random(handle)
    try:
        dset = handle[BETAS_DATASET] if BETAS_DATASET in handle else None
        problem = _betas_problem(dset)
    except Exception as exc:  # a damaged object header
        problem = f"unreadable /{BETAS_DATASET} dataset header ({exc})"
    if problem:
        handle.close()
        raise InputError(path, problem)
    return handle, dset


def advise_random(handle):
    """Turn the kernel's read-ahead off for the descriptor HDF5 reads a file through.

    NSD's chunks are 1.5 KB and scattered; with read-ahead on, a cold read of a region's
    chunks made the kernel read 13.6x their bytes. A no-op for other file drivers.
    """
    try:
        fd = handle.id.get_vfd_handle()
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    except (AttributeError, OSError, TypeError, ValueError):
        pass


def _betas_problem(dset):
    """What makes ``dset`` unusable as NSD betas, or ``None``."""
    if dset is None:
        return f"no /{BETAS_DATASET} dataset"
    if dset.ndim != 4 or dset.dtype != np.int16:
        return f"/betas should be int16 (trials, Z, Y, X), found {dset.dtype} {dset.shape}"
    return None


def betas_shape(path):
    """Shape (trials, Z, Y, X) of a session's ``/betas`` dataset, read from the header."""
    handle, dset = _open_betas(path)
    with handle:
        return tuple(int(n) for n in dset.shape)


def betas_voxel_chunked(path):
    """True when a session's ``/betas`` is stored in NSD's per-voxel chunks, unfiltered."""
    handle, dset = _open_betas(path)
    with handle:
        return is_voxel_chunked(dset)


def is_voxel_chunked(dset):
    """True when each chunk holds all trials of one voxel, unfiltered."""
    return (
        dset.chunks is not None
        and dset.chunks[1:] == (1, 1, 1)
        and dset.chunks[0] == dset.shape[0]
        and dset.compression is None
        and not dset.shuffle
        and dset.fletcher32 is False
        and dset.scaleoffset is None
    )


def _read_voxel_chunks(path, dset, coords, digest):
    """One direct chunk read per voxel, straight into that voxel's row; (trials, voxels).

    HDF5 finds each chunk with one walk of its chunk index (``get_chunk_info_by_coord``
    scans the index instead: 170 s for a real-size session's 11 074 voxels) and reads it
    through the descriptor :func:`_open_betas` advised ``POSIX_FADV_RANDOM``, so a cold
    read costs the pages of the chunks and of the index nodes walked. A chunk never written
    reads as the fill value; one that cannot be read is an :class:`InputError`.
    """
    rows = np.empty((len(coords), dset.shape[0]), dtype=dset.dtype)
    row_bytes = rows.view(np.uint8)
    read = dset.id.read_direct_chunk
    for row, (i, j, k) in enumerate(coords.tolist()):
        try:
            read((0, i, j, k), out=row_bytes[row])
        except (OSError, KeyError, ValueError, RuntimeError):  # never written, or damaged
            try:
                rows[row] = dset[:, i, j, k]  # the fill value, through the normal path
            except Exception as exc:
                raise InputError(path, f"chunk of voxel {(i, j, k)} unreadable ({exc})") from None
        if digest is not None:
            digest.update(row_bytes[row])
    return rows.T


def _read_bounding_box(dset, coords, digest):
    low = coords.min(axis=0)
    high = coords.max(axis=0) + 1
    box = dset[:, low[0] : high[0], low[1] : high[1], low[2] : high[2]]
    if digest is not None:
        digest.update(np.ascontiguousarray(box).view(np.uint8))
    local = coords - low
    return box[:, local[:, 0], local[:, 1], local[:, 2]]


def read_voxels(path, coords, *, digest=None, expected=None):
    """Read the stored int16 betas of some voxels of one session.

    Parameters
    ----------
    path : str or Path
        A ``betas_sessionNN.hdf5`` file.
    coords : (n_voxels, 3) int array
        Voxel indexes along the HDF5 spatial axes.
    digest : hashlib hash or None
        Updated with the bytes read: each voxel's chunk in the order of ``coords`` (NSD's
        per-voxel chunks), else the bounding box as stored.
    expected : tuple of int or None
        The shape ``/betas`` must have (the first session's), checked on the open file.

    Returns
    -------
    (n_trials, n_voxels) int16 array
        Identical to ``betas[:][:, coords[:, 0], coords[:, 1], coords[:, 2]]``.

    Raises
    ------
    InputError
        The file, its chunk index or a chunk cannot be read.
    """
    coords = np.asarray(coords, dtype=np.int64).reshape(-1, 3)
    handle, dset = _open_betas(path)
    with handle:
        found = tuple(int(n) for n in dset.shape)
        if expected is not None and found != tuple(expected):
            raise InputError(path, f"/betas shape {found} differs from session 1's {expected}")
        spatial = np.array(dset.shape[1:])
        if coords.size and (coords.min() < 0 or np.any(coords.max(axis=0) >= spatial)):
            raise InputError(path, f"voxels outside the betas volume {tuple(spatial)}")
        if coords.size == 0:
            return np.empty((dset.shape[0], 0), dtype=np.int16)
        try:
            if is_voxel_chunked(dset):
                return _read_voxel_chunks(path, dset, coords, digest)
            return _read_bounding_box(dset, coords, digest)
        except InputError:
            raise
        except Exception as exc:  # HDF5 errors on a damaged chunk or index
            raise InputError(path, f"unreadable betas ({exc})") from None


def read_psc(path, coords):
    """Read betas of some voxels as float32 percent signal change (int16 / 300)."""
    return psc_from_int16(read_voxels(path, coords))
