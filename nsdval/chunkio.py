"""Reading HDF5 chunks by their file offsets, with the kernel's read-ahead off.

NSD stores each voxel's 750 trials as one 1.5 KB chunk. Read through HDF5 one chunk at a
time, a cold read costs far more than the chunks: the kernel reads ahead around every
scattered request (13x the wanted bytes were measured on a real-size session). Here the
wanted chunks are looked up in the dataset's chunk index (``get_chunk_info_by_coord``),
sorted by file offset, neighbours closer than :data:`GAP_BYTES` coalesced into one
request, and read with ``os.pread`` on a descriptor advised ``POSIX_FADV_RANDOM``, so the
kernel reads the pages that hold them and nothing else. HDF5's own descriptor (the chunk
index lookups) gets the same advice.

Every failure to read (a chunk index that cannot be walked, a chunk past the end of the
file, a chunk of the wrong size) is an :class:`~nsdval.errors.InputError` naming the file.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np

from nsdval.errors import InputError

GAP_BYTES = 4096
"""Wanted chunks at most this far apart are read with one request (the gap is read too)."""


def advise_random(fd):
    """Turn the kernel's read-ahead off for one descriptor (no-op where unsupported)."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        try:
            advise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        except OSError:
            pass


def advise_hdf5_random(handle):
    """Turn read-ahead off for the descriptor HDF5 reads an open ``h5py.File`` through."""
    try:
        fd = handle.id.get_vfd_handle()
    except Exception:  # another file driver: nothing to advise
        return
    if isinstance(fd, int):
        advise_random(fd)


@contextmanager
def random_access(path):
    """A read-only descriptor of ``path`` with read-ahead off."""
    fd = os.open(path, os.O_RDONLY)
    try:
        advise_random(fd)
        yield fd
    finally:
        os.close(fd)


def chunk_extents(dset, coords, path):
    """File offset and size of the chunk holding each voxel's trials.

    Parameters
    ----------
    dset : h5py.Dataset
        A ``(trials, Z, Y, X)`` dataset chunked ``(trials, 1, 1, 1)``.
    coords : (n, 3) int array
        Voxel indexes along the spatial axes.
    path : str or Path
        The file, for messages.

    Returns
    -------
    offsets, sizes : (n,) int64 arrays
        Offset -1 and size 0 where the chunk was never written (it reads as the fill value).
    """
    offsets = np.empty(len(coords), dtype=np.int64)
    sizes = np.empty(len(coords), dtype=np.int64)
    lookup = dset.id.get_chunk_info_by_coord
    for row, (i, j, k) in enumerate(coords.tolist()):
        try:
            info = lookup((0, i, j, k))
        except Exception as exc:  # HDF5 raises several types for a damaged index
            raise InputError(
                path, f"chunk index unreadable at voxel {(i, j, k)} ({exc})"
            ) from None
        offsets[row] = -1 if info.byte_offset is None else info.byte_offset
        sizes[row] = info.size if info.byte_offset is not None else 0
    return offsets, sizes


def coalesce(offsets, sizes, gap=GAP_BYTES):
    """Group chunks, sorted by offset, into requests of neighbours at most ``gap`` apart.

    Returns
    -------
    order : (n,) int array
        Chunk indexes in offset order.
    runs : list of (start, stop, first, last)
        Byte range of each request and the positions in ``order`` it covers
        (``order[first:last]``).

    Examples
    --------
    >>> order, runs = coalesce(np.array([100, 0, 5000]), np.array([10, 10, 10]), gap=100)
    >>> order.tolist(), runs
    ([1, 0, 2], [(0, 110, 0, 2), (5000, 5010, 2, 3)])
    """
    order = np.argsort(offsets, kind="stable")
    starts, ends = offsets[order], offsets[order] + sizes[order]
    runs, first = [], 0
    for pos in range(1, len(order) + 1):
        if pos == len(order) or starts[pos] - ends[pos - 1] > gap:
            runs.append((int(starts[first]), int(ends[first:pos].max()), first, pos))
            first = pos
    return order, runs


def read_chunks(fd, offsets, sizes, out, path, digest=None):
    """Read each chunk into its row of ``out`` (bytes), by coalesced offset-sorted requests.

    Parameters
    ----------
    fd : int
        A descriptor of the file (see :func:`random_access`).
    offsets, sizes : (n,) int64 arrays
        From :func:`chunk_extents`, allocated chunks only.
    out : (n, row_bytes) uint8 array
        Row ``r`` receives chunk ``r``.
    path : str or Path
        The file, for messages.
    digest : hashlib hash or None
        Updated with every chunk's bytes, in offset order.

    Returns
    -------
    int
        Bytes requested from the file (chunks and the gaps read between them).
    """
    if len(offsets) == 0:
        return 0
    order, runs = coalesce(offsets, sizes)
    requested = 0
    for start, stop, first, last in runs:
        data = os.pread(fd, stop - start, start)
        requested += stop - start
        if len(data) < stop - start:
            raise InputError(
                path,
                f"truncated: a chunk at byte {start + len(data)} lies past the end of the file",
            )
        for row in order[first:last].tolist():
            begin = int(offsets[row]) - start
            out[row] = np.frombuffer(data, np.uint8, int(sizes[row]), begin)
            if digest is not None:
                digest.update(memoryview(data)[begin : begin + int(sizes[row])])
    return requested
