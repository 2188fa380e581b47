"""NSD's surface betas and ncsnr: per-hemisphere MGH files read at the wanted vertices only.

A session file ``{lh,rh}.betas_sessionNN.mgh`` holds (n_vertices, 1, 1, n_trials) big-endian
float32, already percent signal change, in Fortran order: one trial's vertices are
contiguous. The data section is memory-mapped with the kernel's read-ahead off and indexed at
the wanted vertices, so a read costs the pages that hold them, never the 491 MB of a real file
as float64 (``get_fdata()``). This is the only place that opens an MGH betas or ncsnr file.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import nibabel as nib
import numpy as np

from nsdval.data import watched
from nsdval.errors import InputError, MissingInputError

HEMISPHERES = ("lh", "rh")


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


def read_vertices(path, vertices, *, what="surface betas file", digest=None):
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

    Returns
    -------
    (n_frames, n) float32 array (native byte order)
    """
    shape, dtype, offset = mgh_header(path, what)
    vertices = np.asarray(vertices, dtype=np.int64).reshape(-1)
    if vertices.size and (vertices.min() < 0 or vertices.max() >= shape[0]):
        raise InputError(path, f"vertices outside the hemisphere's {shape[0]}")
    try:
        data = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F")
        advise_random(data)
        picked = np.ascontiguousarray(data[vertices, 0, 0, :].T)
        del data  # unmaps
    except (OSError, ValueError) as exc:
        raise InputError(path, f"unreadable MGH data ({exc})") from None
    if digest is not None:
        digest.update(picked.view(np.uint8))
    return picked.astype(np.float32)


def advise_random(memmap):
    """Turn the kernel's read-ahead off for a memory map (a no-op where unsupported)."""
    try:
        memmap._mmap.madvise(mmap.MADV_RANDOM)
    except (AttributeError, OSError, ValueError):
        pass
