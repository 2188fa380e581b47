"""Pre-flight checks: refuse inputs that nsdval cannot read or align, before anything runs.

The rule: a file the reports cannot read or align (missing, unreadable, wrong shape or
dtype, a variable or coordinate the chain needs to line values up, an ROI volume that does
not fit the betas or holds no voxel of a requested region) stops the run with an
:class:`~nsdval.errors.NsdvalError` naming the file and the fault, before the output
folder is created. A problem with the *values* (NaN or Inf, a wrong coordinate value, wrong
numbers) is what the reports exist to find: it is left to them and shows as a failed check.

Every file the reports read whole is read whole here (ROI and ncsnr volumes with their gzip
streams checked to the end, the design, the split CSV, score JSON, every netCDF value), so
a file that cannot be read stops the run before any notebook; the betas are opened for
their header only (shape and dtype): the extraction pass reads their chunks. Run through
:func:`check_inputs_watched`, no file can make it hang.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import xarray as xr

from nsdval.data import assemblies, expdesign, raw, sessions, watched
from nsdval.data.layout import DEFAULT_VARIANT, SPLITS, check_region, detect_layout, subject_label
from nsdval.errors import InputError, MissingInputError

FOLDER_PARAMETERS = ("assemblies_dir", "brainscore_dir", "benchmark_dir")
REGION_DIMS = ("presentation", "neuroid")
BRAINSCORE_DIMS = ("presentation", "neuroid", "time_bin")


def check_inputs(layout, subjects, regions):
    """Raise for the first input of a run that the reports could not read or align.

    Parameters
    ----------
    layout : NsdLayout
        The tree, whose required files :meth:`NsdLayout.validate` found present.
    subjects : sequence of int
        Subjects the run validates.
    regions : sequence of str
        Regions the run validates.

    Raises
    ------
    MissingInputError
        A subject of the assemblies has no betas folder, a session is missing from a
        subject's numbering, or a benchmark file of a region is absent.
    InputError
        A file is unreadable, has the wrong shape, dtype, dims, variables or
        coordinates, or an ROI volume does not fit the betas or lacks a region.
    """
    watched.heartbeat(layout.expdesign())
    design = expdesign.load_expdesign(layout.expdesign())
    watched.heartbeat(layout.split_csv())
    images = sessions.split_images(layout.split_csv())
    others = sorted(set(assembly_subjects(layout)) - set(subjects))
    for subject in sorted({*others, *subjects}):
        sessions.check_needed_sessions(layout, design, subject, images)
    for split in SPLITS:
        check_brainscore_assembly(layout, split)
    for region in regions:
        check_region_assembly(layout, region)
        check_benchmark(layout, region)
    for subject in others:
        # the layout report counts the sessions and trials of every subject of the assemblies
        numbers = sessions.check_session_numbers(layout, subject)
        n_trials = raw.betas_shape(layout.betas(subject, numbers[0]))[0]
        check_design_covers(design, subject, len(numbers), n_trials)
    for subject in subjects:
        shape = check_betas(layout, subject)
        check_design_covers(design, subject, len(layout.sessions(subject)), shape[0])
        check_rois(layout, subject, regions, shape[1:])
        check_ncsnr(layout, subject, shape[1:])


def check_inputs_watched(
    layout, subjects, regions, *, timeout=watched.DEFAULT_TIMEOUT, context=None
):
    """:func:`check_inputs` in a watched child process (see :mod:`nsdval.data.watched`).

    A file that makes a reader spin or crash is an :class:`InputError` naming it.
    ``context`` starts the child (see :func:`~nsdval.data.watched.run_watched`).
    """
    kwargs = {"layout": layout, "subjects": tuple(subjects), "regions": tuple(regions)}
    calls = [(check_inputs, kwargs, layout.root)]
    for _ in watched.run_watched(calls, timeout=timeout, context=context):
        pass


def assembly_subjects(layout):
    """Subject numbers of the Brain-Score train assembly, from its ``subject`` coordinate only."""
    path = layout.brainscore_assembly("train")
    watched.heartbeat(path)
    try:
        with xr.open_dataarray(path) as array:
            return assemblies.assembly_subjects(array)
    except Exception as exc:  # xarray and its engines raise many types for bad files
        raise InputError(path, f"not a readable netCDF DataArray ({exc})") from None


def check_report_inputs(parameters):
    """Check the inputs of one report from its recorded parameters (``nsdval rerun``).

    Parameters
    ----------
    parameters : dict
        A report's parameters: ``nsd_root``, ``variant``, the folder overrides, and
        ``subject`` and ``region`` (validation report) or ``regions`` (layout report).
    """
    folders = {k: parameters[k] for k in FOLDER_PARAMETERS if parameters.get(k)}
    layout = detect_layout(
        parameters["nsd_root"], parameters.get("variant", DEFAULT_VARIANT), **folders
    )
    if parameters.get("region"):
        regions = [check_region(parameters["region"])]
    else:
        regions = [
            check_region(r.strip())
            for r in str(parameters.get("regions", "")).split(",")
            if r.strip()
        ]
    subjects = [int(parameters["subject"])] if parameters.get("subject") else []
    layout.validate(subjects, regions)
    check_inputs_watched(layout, subjects, regions)


def check_betas(layout, subject):
    """Check every session header of a subject: readable, int16 4-D ``/betas``, one shape.

    Returns
    -------
    tuple of int
        The shape ``(trials, Z, Y, X)`` shared by every session.
    """
    numbers = sessions.check_session_numbers(layout, subject)
    first = layout.betas(subject, numbers[0])
    shape = raw.betas_shape(first)
    for session in numbers[1:]:
        path = layout.betas(subject, session)
        found = raw.betas_shape(path)
        if found != shape:
            raise InputError(
                path, f"/betas shape {found} differs from {first.name}'s {shape} (trials, Z, Y, X)"
            )
    return shape


def check_design_covers(design, subject, n_sessions, trials_per_session):
    """Raise unless the design has a row for the subject and enough trials for its sessions."""
    if not 1 <= int(subject) <= design.n_subjects:
        raise InputError(design.path, f"no subjectim row for {subject_label(subject)}")
    needed = int(n_sessions) * int(trials_per_session)
    if needed > design.masterordering.size:
        raise InputError(
            design.path,
            f"masterordering has {design.masterordering.size} trials, {subject_label(subject)}'s "
            f"{n_sessions} sessions x {trials_per_session} trials need {needed}",
        )


def check_rois(layout, subject, regions, spatial_shape):
    """Check that each region's ROI volumes fit the betas and hold voxels of the region.

    Parameters
    ----------
    layout : NsdLayout
    subject : int
    regions : sequence of str
    spatial_shape : tuple of int
        ``(Z, Y, X)`` of the betas; ROI volumes are (X, Y, Z).
    """
    for region in regions:
        paths = roi_paths(layout, subject, region)
        for path in paths:
            check_volume_fits(path, spatial_shape, "ROI volume")
        if not raw.region_mask(layout, subject, region).any():
            names = " / ".join(p.name for p in paths)
            raise InputError(paths[0], f"no voxel of region {region} in {names}")


def roi_paths(layout, subject, region):
    """The NIfTI files that define a region of one subject."""
    if region in raw.PRF_LABELS:
        return [layout.roi(subject, "prf-visualrois")]
    return raw.streams_paths(layout, subject)


def check_volume_fits(path, spatial_shape, what):
    """Raise unless a NIfTI volume exists, is readable and is the betas' volume reversed.

    The data is read too (decompressed), not only the header.

    Examples
    --------
    >>> check_volume_fits("/nonexistent.nii.gz", (2, 3, 4), "ROI volume")
    Traceback (most recent call last):
    ...
    nsdval.errors.MissingInputError: /nonexistent.nii.gz: missing ROI volume
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, what)
    watched.heartbeat(path)
    try:
        check_gzip_stream(path)
        image = nib.load(path)
        shape = tuple(int(n) for n in image.shape)
        np.asarray(image.dataobj)  # the data too, not only the header
    except Exception as exc:  # nibabel raises several types for unreadable files
        raise InputError(path, f"not a readable NIfTI volume ({exc})") from None
    expected = tuple(int(n) for n in spatial_shape)[::-1]
    if shape != expected:
        raise InputError(
            path,
            f"{what} shape {shape} (X, Y, Z) does not match the betas' spatial shape "
            f"{tuple(spatial_shape)} (Z, Y, X) reversed, {expected}",
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


def check_ncsnr(layout, subject, spatial_shape):
    """Check the optional ``ncsnr`` volume: when present it must fit the betas."""
    path = layout.ncsnr(subject)
    if path.is_file():
        check_volume_fits(path, spatial_shape, "ncsnr volume")


def check_dataarray(path, *, dims, coords, what):
    """Read a netCDF DataArray whole and check its dims and coordinate names.

    Every value is read, so that a file the reports could not read stops the run here;
    NaN, Inf and wrong coordinate values are left to the reports to judge.

    Parameters
    ----------
    path : str or Path
    dims : sequence of str
        The dims, in order.
    coords : sequence of str
        Coordinates the reports align on.
    what : str
        Description for messages.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, what)
    watched.heartbeat(path)
    try:
        with xr.open_dataarray(path) as array:
            found_dims = tuple(array.dims)
            names = set(array.coords)
            array.load()  # every value and coordinate: a damaged chunk shows only here
    except Exception as exc:  # xarray and its engines raise many types for bad files
        raise InputError(path, f"not a readable netCDF DataArray ({exc})") from None
    if found_dims != tuple(dims):
        raise InputError(path, f"{what} dims are {found_dims}, expected {tuple(dims)}")
    missing = [name for name in coords if name not in names]
    if missing:
        raise InputError(path, f"{what} lacks coordinate {missing[0]!r}")


def check_brainscore_assembly(layout, split):
    """Dims and coordinates of the Brain-Score train or test assembly."""
    presentation = assemblies.PRESENTATION_COORDS
    if split == "test":
        presentation = (*presentation, "repetition")
    check_dataarray(
        layout.brainscore_assembly(split),
        dims=BRAINSCORE_DIMS,
        coords=(*presentation, *assemblies.BRAINSCORE_NEUROID_COORDS),
        what=f"Brain-Score {split} assembly",
    )


def check_region_assembly(layout, region):
    """Dims and coordinates of a region assembly."""
    check_dataarray(
        layout.region_assembly(region),
        dims=REGION_DIMS,
        coords=(*assemblies.PRESENTATION_COORDS, "subject"),
        what=f"{region} region assembly",
    )


def check_benchmark(layout, region):
    """The benchmark output of a region: both activations and a complete score JSON."""
    for split in SPLITS:
        check_dataarray(
            layout.activations(region, split),
            dims=REGION_DIMS,
            coords=("stimulus_id",),
            what=f"{region} {split} activations",
        )
    watched.heartbeat(layout.score(region))
    assemblies.load_score(layout.score(region))
