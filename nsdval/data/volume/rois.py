"""Brain-Score's regions on NSD's volume ROI files: label volumes -> masks -> voxels.

V1, V2 and V4 are labels of ``prf-visualrois``; IT is the ventral stream of ``streams``
(both hemispheres, else the bilateral file). Voxel coordinates are ``np.argwhere`` rows of
a mask aligned with the HDF5 betas (see :mod:`nsdval.data.volume.nifti`), the order the
assemblies list a subject's voxels in.
"""

from __future__ import annotations

import numpy as np

from nsdval.data.layout import check_region
from nsdval.data.volume import nifti
from nsdval.errors import InputError

PRF_LABELS = {"V1": (1, 2), "V2": (3, 4), "V4": (7,)}
STREAMS_LABELS = {"IT": (5,)}


def load_label_volume(path):
    """Read an ROI label volume aligned with the HDF5 axes.

    Returns
    -------
    (Z, Y, X) int32 array
        Labels: -1 outside cortex, 0 unlabelled, positive labels.
    """
    data = nifti.load_volume(path, "ROI volume")
    if not np.all(np.isfinite(data)) or np.any(data != np.round(data)):
        raise InputError(path, "label volume holds non-integer values")
    return data.astype(np.int32)


def streams_paths(layout, subject):
    """The streams volumes that define IT: both hemispheres, else the bilateral file."""
    hemis = [layout.roi(subject, f"{h}.streams") for h in ("lh", "rh")]
    present = [p for p in hemis if p.is_file()]
    return present if present else [layout.roi(subject, "streams")]


def roi_paths(layout, subject, region):
    """The NIfTI files that define a region of one subject."""
    if check_region(region) in PRF_LABELS:
        return [layout.roi(subject, "prf-visualrois")]
    return streams_paths(layout, subject)


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
    volumes = [load_label_volume(p) for p in roi_paths(layout, subject, region)]
    if region in PRF_LABELS:
        return np.isin(volumes[0], PRF_LABELS[region])
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
