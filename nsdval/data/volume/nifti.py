"""NSD's NIfTI volumes (ROI labels, ncsnr), read once and aligned with the HDF5 betas.

NIfTI volumes are stored (X, Y, Z); the HDF5 betas' spatial axes are reversed, (Z, Y, X).
Every volume leaves this module transposed, so ``volume[i, j, k]`` is the voxel whose betas
are ``betas[:, i, j, k]``. This is the only place that opens a NIfTI file.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np

from nsdval.data import watched
from nsdval.errors import InputError, MissingInputError


def load_volume(path, what):
    """Read a 3-D NIfTI volume as float64, aligned with the HDF5 axes.

    Parameters
    ----------
    path : str or Path
        A NIfTI file in (X, Y, Z) order.
    what : str
        What the file is, for messages (``ROI volume``, ``ncsnr volume``).

    Returns
    -------
    (Z, Y, X) float64 array

    Raises
    ------
    MissingInputError
        The file does not exist.
    InputError
        The file is not a readable 3-D NIfTI volume.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, what)
    watched.heartbeat(path)
    try:
        data = np.asarray(nib.load(path).get_fdata(dtype=np.float64))
    except Exception as exc:  # nibabel raises several types for unreadable files
        raise InputError(path, f"not a readable NIfTI volume ({exc})") from None
    if data.ndim != 3:
        raise InputError(path, f"expected a 3-D {what}, found shape {data.shape} (X, Y, Z)")
    return data.T


def values_at(volume, coords, path):
    """The values of an aligned volume at some voxels; raise naming ``path`` when outside.

    Examples
    --------
    >>> values_at(np.arange(8.0).reshape(2, 2, 2), np.array([[1, 0, 1]]), "v.nii.gz").tolist()
    [5.0]
    """
    coords = np.asarray(coords, dtype=np.int64).reshape(-1, 3)
    if coords.size and (np.any(coords < 0) or np.any(coords.max(axis=0) >= volume.shape)):
        raise InputError(path, f"voxel coordinates fall outside the volume {volume.shape[::-1]}")
    return volume[coords[:, 0], coords[:, 1], coords[:, 2]]


def check_volume_fits(path, spatial_shape, what):
    """Raise unless a NIfTI volume exists, reads to its end and is the betas' volume reversed.

    Examples
    --------
    >>> check_volume_fits("/nonexistent.nii.gz", (2, 3, 4), "ROI volume")
    Traceback (most recent call last):
    ...
    nsdval.errors.MissingInputError: /nonexistent.nii.gz: missing ROI volume
    """
    path = Path(path)
    if path.is_file():
        try:
            check_gzip_stream(path)
        except Exception as exc:  # zlib, EOFError, OSError on a damaged stream
            raise InputError(path, f"not a readable NIfTI volume ({exc})") from None
    shape = load_volume(path, what).shape
    if shape != tuple(int(n) for n in spatial_shape):
        raise InputError(
            path,
            f"{what} shape {shape[::-1]} (X, Y, Z) does not match the betas' spatial shape "
            f"{tuple(spatial_shape)} (Z, Y, X) reversed, {tuple(spatial_shape)[::-1]}",
        )


def check_gzip_stream(path, chunk=2**20):
    """Read a ``.gz`` file to its end, so that its CRC and length are checked.

    A damaged stream can decompress into plausible values up to the data nsdval uses; only
    the check at the end of the stream tells.
    """
    if Path(path).suffix == ".gz":
        with gzip.open(path, "rb") as stream:
            while stream.read(chunk):
                pass
