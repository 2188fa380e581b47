"""Synthetic anatomy: a brain mask, a cortical ribbon and the NSD ROI volumes.

The brain is an ellipsoid filling the volume, the cortex its outer two-voxel ribbon. Visual
areas are laid out by the angle from the posterior pole: V1 around the pole, then V2 and V3
in rings, hV4 and the ventral stream further out on the ventral side, the lateral and
parietal streams on the other sides. Arrays are kept in HDF5 order (Z, Y, X); files are
written in NIfTI order (X, Y, Z).
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np
from scipy import ndimage

VOXEL_SIZE_MM = 1.8


@dataclass(frozen=True)
class Anatomy:
    """Masks and label volumes of one subject, in HDF5 order (Z, Y, X).

    Parameters
    ----------
    brain : (Z, Y, X) bool array
        Voxels inside the brain.
    prf : (Z, Y, X) int array
        ``prf-visualrois`` labels: -1 outside cortex, 0 unlabelled cortex, 1..7.
    lh_streams, rh_streams : (Z, Y, X) int array
        ``streams`` labels of each hemisphere, -1 outside that hemisphere's cortex.
    """

    brain: np.ndarray
    prf: np.ndarray
    lh_streams: np.ndarray
    rh_streams: np.ndarray

    @property
    def streams(self):
        """The bilateral ``streams`` volume, the union of both hemispheres."""
        return np.maximum(self.lh_streams, self.rh_streams)

    def region_mask(self, region):
        """Return the (Z, Y, X) boolean mask of a Brain-Score region."""
        if region == "IT":
            return (self.lh_streams == 5) | (self.rh_streams == 5)
        labels = {"V1": (1, 2), "V2": (3, 4), "V4": (7,)}[region]
        return np.isin(self.prf, labels)


def make_anatomy(shape_xyz, fractions, rng):
    """Build the brain and ROI volumes of one subject.

    Parameters
    ----------
    shape_xyz : tuple of int
        Volume shape in NIfTI order (X, Y, Z).
    fractions : dict
        Share of the cortical ribbon for V1, V2, V4 and IT.
    rng : numpy.random.Generator
        Jitters the region sizes by up to 10 percent.

    Returns
    -------
    Anatomy
    """
    geometry = _geometry(shape_xyz)
    n_cortex = geometry["cortex"].sum()
    sizes = {
        name: round(share * n_cortex * rng.uniform(0.9, 1.1)) for name, share in fractions.items()
    }
    return _labelled_anatomy(geometry, sizes)


def sized_anatomy(shape_xyz, sizes):
    """Build the brain and ROI volumes of one subject with exact region sizes.

    Parameters
    ----------
    shape_xyz : tuple of int
        Volume shape in NIfTI order (X, Y, Z).
    sizes : dict
        Voxel count of V1, V2, V4 and IT.

    Returns
    -------
    Anatomy

    Examples
    --------
    >>> anatomy = sized_anatomy((20, 26, 21), {"V1": 30, "V2": 31, "V4": 12, "IT": 90})
    >>> [int(anatomy.region_mask(r).sum()) for r in ("V1", "V2", "V4", "IT")]
    [30, 31, 12, 90]
    """
    return _labelled_anatomy(_geometry(shape_xyz), sizes)


def _geometry(shape_xyz):
    """Return the brain, its cortical ribbon and the coordinates that place the regions."""
    u, v, w = _unit_coordinates(tuple(reversed(shape_xyz)))
    radius = np.sqrt(u**2 + v**2 + w**2)
    brain = radius <= 1.0
    return {
        "brain": brain,
        "cortex": brain & ~ndimage.binary_erosion(brain, iterations=2),
        "angle": np.arccos(np.clip(-v / np.maximum(radius, 1e-9), -1.0, 1.0)),
        "ventral": w < 0,
        "lateral": np.abs(u) >= w,
        "left": u < 0,
    }


def _labelled_anatomy(geometry, sizes):
    """Label the cortex of a geometry with regions of the given sizes."""
    cortex = geometry["cortex"]
    prf, streams = _label_cortex(
        cortex, geometry["angle"], geometry["ventral"], geometry["lateral"], sizes
    )
    lh = np.where(cortex & geometry["left"], streams, -1)
    rh = np.where(cortex & ~geometry["left"], streams, -1)
    return Anatomy(brain=geometry["brain"], prf=prf, lh_streams=lh, rh_streams=rh)


def _unit_coordinates(shape_zyx):
    """Return ellipsoid coordinates (u, v, w) along X, Y, Z, each -1..1 at the margin."""
    z, y, x = np.indices(shape_zyx, dtype=float)
    coords = []
    for axis, size in zip((x, y, z), reversed(shape_zyx), strict=True):
        centre = (size - 1) / 2
        coords.append((axis - centre) / (centre - 0.5))
    return coords


def _label_cortex(cortex, angle, ventral, lateral, sizes):
    """Return the prf and streams label volumes of the cortical ribbon."""
    prf = np.where(cortex, 0, -1)
    streams = np.where(cortex, 0, -1)
    flat = np.flatnonzero(cortex)
    flat = flat[np.argsort(angle.ravel()[flat], kind="stable")]
    n1, n2 = sizes["V1"], sizes["V2"]
    early = {1: flat[:n1], 3: flat[n1 : n1 + n2], 5: flat[n1 + n2 : n1 + 2 * n2]}
    for label, voxels in early.items():
        dorsal = ~ventral.ravel()[voxels]
        prf.ravel()[voxels] = label + dorsal
        streams.ravel()[voxels] = 1
    rest = flat[n1 + 2 * n2 :]
    rest_ventral = rest[ventral.ravel()[rest]]
    n4, n_it = sizes["V4"], sizes["IT"]
    if rest_ventral.size < n4 + n_it:
        raise RuntimeError("synthetic volume too small for the requested region sizes")
    prf.ravel()[rest_ventral[:n4]] = 7
    streams.ravel()[rest_ventral[:n4]] = 2
    streams.ravel()[rest_ventral[n4 : n4 + n_it]] = 5
    _label_dorsal_streams(streams, rest[~ventral.ravel()[rest]], lateral, n_it // 2)
    return prf, streams


def _label_dorsal_streams(streams, voxels, lateral, size):
    """Label the non-ventral rings: mid then outer lateral (3, 6) and parietal (4, 7)."""
    for start, (lat, par) in ((0, (3, 4)), (size, (6, 7))):
        ring = voxels[start : start + size]
        streams.ravel()[ring] = np.where(lateral.ravel()[ring], lat, par)


def affine(shape_xyz):
    """Return a 1.8 mm voxel-to-world affine centred on the volume.

    Examples
    --------
    >>> float(affine((10, 10, 10))[0, 0])
    1.8
    """
    matrix = np.diag([VOXEL_SIZE_MM] * 3 + [1.0])
    matrix[:3, 3] = -VOXEL_SIZE_MM * (np.asarray(shape_xyz) - 1) / 2
    return matrix


def write_nifti(path, volume_zyx, dtype):
    """Write a volume kept in (Z, Y, X) order as a NIfTI file of shape (X, Y, Z).

    Parameters
    ----------
    path : pathlib.Path
        Target ``.nii.gz`` file.
    volume_zyx : (Z, Y, X) array
        The values, in HDF5 order.
    dtype : numpy dtype
        Stored data type.
    """
    data = np.ascontiguousarray(volume_zyx.T).astype(dtype)
    image = nib.Nifti1Image(data, affine(data.shape))
    image.header.set_xyzt_units("mm")
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, path)


def write_rois(roi_dir, anatomy):
    """Write ``prf-visualrois``, ``lh.streams``, ``rh.streams`` and ``streams``.

    Parameters
    ----------
    roi_dir : pathlib.Path
        The subject's ``rois`` folder.
    anatomy : Anatomy
        The label volumes.
    """
    volumes = {
        "prf-visualrois": anatomy.prf,
        "lh.streams": anatomy.lh_streams,
        "rh.streams": anatomy.rh_streams,
        "streams": anatomy.streams,
    }
    for name, volume in volumes.items():
        write_nifti(roi_dir / f"{name}.nii.gz", volume, np.int16)
