"""Reading raw NSD files: ROI label volumes and the ROI voxels of single-trial betas.

ROI volumes are NIfTI in (X, Y, Z) order; ``get_fdata().T`` aligns them with the HDF5
betas, whose spatial axes are reversed. Voxel coordinates are ``np.argwhere`` rows of the
aligned mask, so ``betas[:, i, j, k]`` is voxel ``(i, j, k)``.

Betas are read one session at a time and only at the wanted voxels, with a read chosen
from the dataset's storage: one direct chunk read per voxel for NSD's (trials, 1, 1, 1)
chunks, a bounding-box hyperslab otherwise. Values come back as stored (int16); the only
arithmetic here is the documented int16 -> percent-signal-change scaling.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import nibabel as nib
import numpy as np

from nsdval.chain import psc_from_int16
from nsdval.errors import InputError, MissingInputError
from nsdval.layout import check_region, subject_label

PRF_LABELS = {"V1": (1, 2), "V2": (3, 4), "V4": (7,)}
STREAMS_LABELS = {"IT": (5,)}
BETAS_DATASET = "betas"


def load_label_volume(path):
    """Read an ROI label volume aligned with the HDF5 axes.

    Parameters
    ----------
    path : str or Path
        A NIfTI file in (X, Y, Z) order.

    Returns
    -------
    (Z, Y, X) int32 array
        Labels: -1 outside cortex, 0 unlabelled, positive labels.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, "ROI volume")
    try:
        data = np.asarray(nib.load(path).get_fdata()).T
    except Exception as exc:  # nibabel raises several types for unreadable files
        raise InputError(path, f"not a readable NIfTI volume ({exc})") from None
    if data.ndim != 3:
        raise InputError(path, f"expected a 3-D label volume, found shape {data.T.shape}")
    if not np.all(np.isfinite(data)) or np.any(data != np.round(data)):
        raise InputError(path, "label volume holds non-integer values")
    return data.astype(np.int32)


def streams_paths(layout, subject):
    """The streams volumes that define IT: both hemispheres, else the bilateral file."""
    hemis = [layout.roi(subject, f"{h}.streams") for h in ("lh", "rh")]
    present = [p for p in hemis if p.is_file()]
    return present if present else [layout.roi(subject, "streams")]


def region_mask(layout, subject, region):
    """Boolean mask of a Brain-Score region, aligned with the HDF5 spatial axes.

    Parameters
    ----------
    layout : NsdLayout
        The tree.
    subject : int
        Subject number.
    region : {'V1', 'V2', 'V4', 'IT'}
        Brain-Score region.

    Returns
    -------
    (Z, Y, X) bool array
    """
    check_region(region)
    if region in PRF_LABELS:
        labels = load_label_volume(layout.roi(subject, "prf-visualrois"))
        return np.isin(labels, PRF_LABELS[region])
    volumes = [load_label_volume(p) for p in streams_paths(layout, subject)]
    shapes = {v.shape for v in volumes}
    if len(shapes) > 1:
        raise InputError(layout.roi_dir(subject), f"streams volumes differ in shape: {shapes}")
    return np.any([np.isin(v, STREAMS_LABELS[region]) for v in volumes], axis=0)


def voxel_coordinates(mask):
    """Voxel indexes of a mask in argwhere order, one (i, j, k) row per voxel.

    Examples
    --------
    >>> voxel_coordinates(np.array([[[False, True]], [[True, False]]])).tolist()
    [[0, 0, 1], [1, 0, 0]]
    """
    return np.argwhere(np.asarray(mask, dtype=bool)).astype(np.int64)


def _open_betas(path):
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, "betas session file")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(path, f"not a readable HDF5 file ({exc})") from None
    if BETAS_DATASET not in handle:
        handle.close()
        raise InputError(path, f"no /{BETAS_DATASET} dataset")
    dset = handle[BETAS_DATASET]
    if dset.ndim != 4 or dset.dtype != np.int16:
        found = f"{dset.dtype} {dset.shape}"
        handle.close()
        raise InputError(path, f"/betas should be int16 (trials, Z, Y, X), found {found}")
    return handle, dset


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


def _read_voxel_chunks(dset, coords):
    """One chunk read per voxel, straight into that voxel's row; returned as (trials, voxels).

    The rows are contiguous, so each chunk lands with one copy; the result is their
    transposed view.
    """
    rows = np.empty((len(coords), dset.shape[0]), dtype=dset.dtype)
    row_bytes = rows.view(np.uint8)
    read = dset.id.read_direct_chunk
    for row, (i, j, k) in enumerate(coords.tolist()):
        try:
            read((0, i, j, k), out=row_bytes[row])
        except (OSError, KeyError, ValueError, RuntimeError):  # chunk never written
            rows[row] = dset[:, i, j, k]  # the fill value, through the normal path
    return rows.T


def _read_bounding_box(dset, coords):
    low = coords.min(axis=0)
    high = coords.max(axis=0) + 1
    box = dset[:, low[0] : high[0], low[1] : high[1], low[2] : high[2]]
    local = coords - low
    return box[:, local[:, 0], local[:, 1], local[:, 2]]


def read_voxels(path, coords):
    """Read the stored int16 betas of some voxels of one session.

    Parameters
    ----------
    path : str or Path
        A ``betas_sessionNN.hdf5`` file.
    coords : (n_voxels, 3) int array
        Voxel indexes along the HDF5 spatial axes.

    Returns
    -------
    (n_trials, n_voxels) int16 array
        Identical to ``betas[:][:, coords[:, 0], coords[:, 1], coords[:, 2]]``.
    """
    coords = np.asarray(coords, dtype=np.int64).reshape(-1, 3)
    handle, dset = _open_betas(path)
    with handle:
        spatial = np.array(dset.shape[1:])
        if coords.size and (coords.min() < 0 or np.any(coords.max(axis=0) >= spatial)):
            raise InputError(path, f"voxels outside the betas volume {tuple(spatial)}")
        if coords.size == 0:
            return np.empty((dset.shape[0], 0), dtype=np.int16)
        if is_voxel_chunked(dset):
            return _read_voxel_chunks(dset, coords)
        return _read_bounding_box(dset, coords)


def read_psc(path, coords):
    """Read betas of some voxels as float32 percent signal change (int16 / 300)."""
    return psc_from_int16(read_voxels(path, coords))


def check_mask_matches(mask, betas_path, spatial_shape, subject):
    """Raise :class:`InputError` when an ROI mask and the betas differ in shape."""
    if tuple(mask.shape) != tuple(spatial_shape):
        raise InputError(
            betas_path,
            f"volume {tuple(spatial_shape)} does not match the {subject_label(subject)} "
            f"ROI volumes {tuple(mask.shape)} (HDF5 order)",
        )
