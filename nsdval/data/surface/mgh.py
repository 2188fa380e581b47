"""NSD's surface betas and ncsnr: per-hemisphere MGH files read at the wanted vertices only.

A session file ``{lh,rh}.betas_sessionNN.mgh`` holds (n_vertices, 1, 1, n_trials) big-endian
float32, already percent signal change, in Fortran order: one trial's vertices are
contiguous. The data section is memory-mapped a window of whole trials at a time, with the
kernel's read-ahead off, the pages that hold the window's wanted vertices asked for up front
(``POSIX_FADV_WILLNEED``, so a cold read is a few large reads, not one 4 KB fault after
another), and indexed at the wanted vertices. A read costs the pages that hold them, never the
491 MB of a real file as float64 (``get_fdata()``), and the process holds at most one window of
the file (:data:`WINDOW_BYTES`): a mapped page counts in its resident memory. This is the only
place that opens an MGH betas or ncsnr file.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import nibabel as nib
import numpy as np

from nsdval.data import watched
from nsdval.errors import InputError, MissingInputError

HEMISPHERES = ("lh", "rh")
WINDOW_BYTES = 32 * 2**20
"""Bytes of a file mapped at once (whole trials; at least one)."""
PREFETCH_BYTES = 128 * 2**10
"""Bytes asked for in one ``WILLNEED`` call: Linux reads no more than its read-ahead window
(128 KB by default) per call, so longer runs of pages are asked for piece by piece."""
PAGE = mmap.PAGESIZE


def mgh_header(path, what):
    """The header of an MGH file: ``((vertices, 1, 1, frames), dtype, data offset)``.

    Raises
    ------
    MissingInputError, InputError
        Naming the file: absent, unreadable, another shape, not float, or truncated.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, what)
    watched.heartbeat(path)
    try:
        header = nib.load(path).header
        shape = tuple(int(n) for n in header.get_data_shape())
        dtype, offset = np.dtype(header.get_data_dtype()), int(header.get_data_offset())
    except Exception as exc:  # nibabel raises several types for unreadable files
        raise InputError(path, f"not a readable MGH file ({exc})") from None
    if len(shape) == 3:  # one frame (ncsnr) may be stored without the fourth axis
        shape = (*shape, 1)
    if len(shape) != 4 or shape[1:3] != (1, 1):
        raise InputError(path, f"expected (vertices, 1, 1, frames), found shape {shape}")
    if dtype.kind != "f":
        raise InputError(path, f"expected float values, found {dtype}")
    size = path.stat().st_size
    if offset + shape[0] * shape[3] * dtype.itemsize > size:
        raise InputError(path, f"truncated: {size} bytes hold less than {shape} {dtype}")
    return shape, dtype, offset


def read_vertices(
    path,
    vertices,
    *,
    what="surface betas file",
    digest=None,
    window_bytes=None,
    expected=None,
    out=None,
):
    """Values of some vertices of an MGH file, every frame: ``(n_frames, n_vertices)``.

    Parameters
    ----------
    path : str or Path
        A ``{lh,rh}.betas_sessionNN.mgh`` or ``{lh,rh}.ncsnr.mgh`` file.
    vertices : (n,) int array
        Vertex indexes within the hemisphere.
    what : str
        What the file is, for messages.
    digest : hashlib hash or None
        Updated with the bytes read (the wanted values, frame by frame, as stored).
    window_bytes : int or None
        Bytes mapped at once; :data:`WINDOW_BYTES` by default.
    expected : tuple of int or None
        The shape the file must have (the first session's), checked on the header read here.
    out : (n_frames, n) float32 array or None
        Filled and returned instead of a new array (a view into a larger one, say).

    Returns
    -------
    (n_frames, n) float32 array (native byte order)
    """
    (n_vertices, _, _, n_frames), dtype, offset = mgh_header(path, what)
    vertices = _checked(path, (n_vertices, 1, 1, n_frames), vertices, expected)
    if out is None:
        out = np.empty((n_frames, vertices.size), dtype=np.float32)
    if vertices.size == 0:
        return out
    frame_bytes = n_vertices * dtype.itemsize
    per_window = max(1, (window_bytes or WINDOW_BYTES) // frame_bytes)
    spans = vertex_spans(vertices, dtype.itemsize)
    try:
        with Path(path).open("rb") as handle:
            for first in range(0, n_frames, per_window):
                stop = min(n_frames, first + per_window)
                start = offset + first * frame_bytes
                window = np.memmap(
                    handle, dtype=dtype, mode="r", offset=start, shape=(stop - first, n_vertices)
                )
                picked = _picked(handle.fileno(), window, start, vertices, spans)
                del window  # unmaps
                if digest is not None:
                    digest.update(picked)
                out[first:stop] = picked
    except (OSError, ValueError) as exc:
        raise InputError(path, f"unreadable MGH data ({exc})") from None
    return out


def _checked(path, shape, vertices, expected):
    """The vertices as an int64 array, once the file's shape and their range are right."""
    if expected is not None and shape != tuple(expected):
        raise InputError(path, f"shape {shape} differs from the first session's {expected}")
    vertices = np.asarray(vertices, dtype=np.int64).reshape(-1)
    if vertices.size and (vertices.min() < 0 or vertices.max() >= shape[0]):
        raise InputError(path, f"vertices outside the hemisphere's {shape[0]}")
    return vertices


def _picked(fd, window, start, vertices, spans):
    """A mapped window's values at the vertices, as stored: its wanted pages read first."""
    advise_random(window)
    frames, n_vertices = window.shape
    runs = page_runs(start, n_vertices * window.dtype.itemsize, frames, spans)
    prefetch(fd, runs)
    # a C-ordered copy: take is 3x a fancy index, whose copy is not
    return np.take(np.asarray(window), vertices, axis=1)


def vertex_spans(vertices, itemsize):
    """Byte ranges of one frame that hold the wanted vertices, split where a whole page is free.

    Two wanted values less than a page apart share a span: no page lies wholly between
    them, so the pages a span covers are exactly the pages that hold its values, wherever
    the frame starts.

    Parameters
    ----------
    vertices : (n,) int array, n > 0
        Vertex indexes.
    itemsize : int
        Bytes per value.

    Returns
    -------
    lo, hi : (n_spans,) int64 arrays
        Start and end (exclusive) of each span, in bytes from the frame's start.

    Examples
    --------
    >>> lo, hi = vertex_spans(np.array([5000, 0, 1, 900]), 4)  # bytes 0, 4, 3600, 20000
    >>> lo.tolist(), hi.tolist()
    ([0, 20000], [3604, 20004])
    """
    where = np.unique(vertices) * itemsize
    cut = np.flatnonzero(np.diff(where) >= PAGE) + 1
    lo = where[np.concatenate([[0], cut])]
    hi = where[np.concatenate([cut - 1, [where.size - 1]])] + itemsize
    return lo, hi


def page_runs(start, frame_bytes, n_frames, spans):
    """Runs of consecutive pages that hold the wanted values of some consecutive frames.

    Parameters
    ----------
    start : int
        Byte offset of the first frame in the file.
    frame_bytes : int
        Bytes per frame.
    n_frames : int
        Frames.
    spans : (lo, hi)
        From :func:`vertex_spans`.

    Returns
    -------
    (n_runs, 2) int64 array
        First page and end page (exclusive) of each run, ascending, never touching.

    Examples
    --------
    >>> spans = vertex_spans(np.array([0, 5000]), 4)  # bytes 0-3 and 20000-20003 per frame
    >>> page_runs(4096, 40000, 2, spans).tolist()  # frames at bytes 4096 and 44096
    [[1, 2], [5, 6], [10, 11], [15, 16]]
    """
    lo, hi = spans
    base = start + np.arange(n_frames, dtype=np.int64)[:, None] * frame_bytes
    first = ((base + lo) // PAGE).ravel()  # ascending: frames and spans are in file order
    last = ((base + hi - 1) // PAGE).ravel()
    breaks = np.flatnonzero(first[1:] > last[:-1] + 1) + 1
    starts = first[np.concatenate([[0], breaks])]
    ends = last[np.concatenate([breaks - 1, [last.size - 1]])] + 1
    return np.column_stack([starts, ends])


def prefetch(fd, runs):
    """Ask the kernel to read runs of pages now (``POSIX_FADV_WILLNEED``, a no-op elsewhere)."""
    if not hasattr(os, "posix_fadvise"):
        return
    step = PREFETCH_BYTES // PAGE
    try:
        for begin, end in runs.tolist():
            for page in range(begin, end, step):
                length = min(step, end - page) * PAGE
                os.posix_fadvise(fd, page * PAGE, length, os.POSIX_FADV_WILLNEED)
    except OSError:  # advice only: a file system may refuse it
        return


def advise_random(memmap):
    """Turn the kernel's read-ahead off for a memory map (a no-op where unsupported)."""
    try:
        memmap._mmap.madvise(mmap.MADV_RANDOM)
    except (AttributeError, OSError, ValueError):
        pass
