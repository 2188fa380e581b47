"""NSD's volume files as a :class:`~nsdval.data.space.DataSpace`.

A unit is a voxel, ``(i, j, k)`` on the HDF5 betas' spatial axes (Z, Y, X), which the
assemblies call ``voxel_x``, ``voxel_y``, ``voxel_z``; a subject's voxels are listed in
``np.argwhere`` order of the region's mask. Betas are int16, percent signal change x 300.
"""

from __future__ import annotations

import numpy as np

from nsdval.data import sessions as session_checks
from nsdval.data.layout import subject_label
from nsdval.data.space import DataSpace
from nsdval.data.volume import betas, nifti, rois
from nsdval.errors import InputError


class VolumeSpace(DataSpace):
    """NSD's func1pt8mm volume files of one tree (see :class:`~nsdval.data.space.DataSpace`).

    Parameters
    ----------
    layout : NsdLayout
        Where the tree's files are.
    """

    name = "volume"
    unit = "voxel"
    unit_coords = ("voxel_x", "voxel_y", "voxel_z")
    stored_dtype = np.dtype(np.int16)
    psc_divisor = betas.PSC_SCALE
    betas_hold_nan = False
    sessions_described = "betas_sessionNN.hdf5 files"
    ncsnr_described = "ncsnr.nii.gz"
    neuroid_major = "subject"
    region_assemblies_hold_shared = False

    def __init__(self, layout):
        super().__init__(layout)
        self._shapes = {}

    # --- sessions ---------------------------------------------------------------------
    def betas_dir(self, subject):
        """The subject's betas folder of the layout."""
        return self.layout.subject_betas_dir(subject)

    def sessions(self, subject):
        """Numbers of the subject's ``betas_sessionNN.hdf5`` files."""
        return self.layout.sessions(subject)

    def session_paths(self, subject, session):
        """The session's one HDF5 file."""
        return [self.layout.betas(subject, session)]

    def session_shape(self, subject):
        """``(trials, Z, Y, X)`` of a subject's first session, read once from its header."""
        if subject not in self._shapes:
            first = session_checks.session_files(self, subject)[0]
            self._shapes[subject] = betas.betas_shape(self.layout.betas(subject, first))
        return self._shapes[subject]

    def trials_per_session(self, subject):
        """Trials of the first session's ``/betas``."""
        return self.session_shape(subject)[0]

    # --- units and their values ---------------------------------------------------------
    def region_units(self, subject, region):
        """The region's voxels, ``np.argwhere`` order of its mask; the mask must fit the betas."""
        mask = rois.region_mask(self.layout, subject, region)
        check_mask_fits(mask, self.session_shape(subject)[1:], self._first_file(subject), subject)
        units = rois.voxel_coordinates(mask)
        if units.size == 0:
            raise InputError(self.layout.roi_dir(subject), f"no voxel of region {region}")
        return units

    def reads_units_separately(self, subject):
        """True for NSD's per-voxel chunks, unfiltered."""
        return betas.betas_voxel_chunked(self._first_file(subject))

    def read_stored(self, subject, session, units, *, digest_for=None):
        """The session's int16 betas at some voxels; its shape must be the first session's."""
        path = self.layout.betas(subject, session)
        digest = digest_for(path) if digest_for else None
        return betas.read_voxels(path, units, digest=digest, expected=self.session_shape(subject))

    def ncsnr_path(self, subject):
        """``ncsnr.nii.gz`` beside the betas."""
        return self.layout.ncsnr(subject)

    def read_ncsnr(self, subject, units):
        """The ncsnr volume at some voxels, or ``None`` without the file."""
        path = self.ncsnr_path(subject)
        if not path.is_file():
            return None
        return nifti.values_at(nifti.load_volume(path, "ncsnr volume"), units, path)

    def _first_file(self, subject):
        return self.layout.betas(subject, self.sessions(subject)[0])

    # --- pre-flight ------------------------------------------------------------------------
    def check_subject(self, subject, regions):
        """Session headers, each region's ROI volumes and the ncsnr volume (when present)."""
        shape = check_session_headers(self, subject)
        for region in regions:
            check_region_fits(self.layout, subject, region, shape[1:])
        if self.ncsnr_path(subject).is_file():
            nifti.check_volume_fits(self.ncsnr_path(subject), shape[1:], "ncsnr volume")
        return shape[0]

    def subject_inputs(self, subject):
        """The session files and every ROI volume of the subject."""
        files = [p for s in self.sessions(subject) for p in self.session_paths(subject, s)]
        roi_dir = self.layout.roi_dir(subject)
        return files + sorted(p for p in roi_dir.iterdir() if p.name.endswith(".nii.gz"))


def check_mask_fits(mask, spatial_shape, betas_path, subject):
    """Raise :class:`InputError` naming the betas file when an ROI mask has another shape."""
    if tuple(mask.shape) != tuple(spatial_shape):
        raise InputError(
            betas_path,
            f"volume {tuple(spatial_shape)} does not match the {subject_label(subject)} "
            f"ROI volumes {tuple(mask.shape)} (HDF5 order)",
        )


def check_session_headers(space, subject):
    """Every session header of a subject: numbered 1..N, readable int16 4-D, one shape.

    Returns
    -------
    tuple of int
        The shape ``(trials, Z, Y, X)`` shared by every session.
    """
    numbers = session_checks.check_session_numbers(space, subject)
    first = space.layout.betas(subject, numbers[0])
    shape = betas.betas_shape(first)
    for session in numbers[1:]:
        path = space.layout.betas(subject, session)
        found = betas.betas_shape(path)
        if found != shape:
            raise InputError(
                path, f"/betas shape {found} differs from {first.name}'s {shape} (trials, Z, Y, X)"
            )
    return shape


def check_region_fits(layout, subject, region, spatial_shape):
    """A region's ROI volumes read whole, fit the betas and hold voxels of the region."""
    paths = rois.roi_paths(layout, subject, region)
    for path in paths:
        nifti.check_volume_fits(path, spatial_shape, "ROI volume")
    if not rois.region_mask(layout, subject, region).any():
        names = " / ".join(p.name for p in paths)
        raise InputError(paths[0], f"no voxel of region {region} in {names}")
