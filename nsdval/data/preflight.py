"""Pre-flight checks: refuse inputs that nsdval cannot read or align, before anything runs.

The rule: a file the reports cannot read or align (missing, unreadable, wrong shape or
dtype, a variable or coordinate the chain needs to line values up, an ROI volume that does
not fit the betas or holds no voxel of a requested region) stops the run with an
:class:`~nsdval.errors.NsdvalError` naming the file and the fault, before the output
folder is created. A problem with the *values* (NaN or Inf, a wrong coordinate value, wrong
numbers) is what the reports exist to find: it is left to them and shows as a failed check.

Every file the reports read whole is read whole here (the design, the split CSV, score
JSON, every netCDF value; a subject's raw files through its data space,
:meth:`~nsdval.data.space.DataSpace.check_subject`: ROI and ncsnr volumes whole, betas
headers only, since the extraction pass reads their chunks; the ``nsdgeneral`` labels and
every subject's ncsnr at them, when the tree has those labels), so a file that cannot be read
stops the run before any notebook. Run through
:func:`check_inputs_watched`, no file can make it hang.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from nsdval.data import assemblies, expdesign, sessions, watched
from nsdval.data.layout import DEFAULT_VARIANT, SPLITS, check_region, detect_layout, subject_label
from nsdval.data.spaces import open_space
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
    space = open_space(layout)
    others = sorted(set(assembly_subjects(layout)) - set(subjects))
    for subject in sorted({*others, *subjects}):
        sessions.check_needed_sessions(space, design, subject, images)
    for split in SPLITS:
        check_brainscore_assembly(layout, split)
    for region in regions:
        check_region_assembly(layout, region)
        check_benchmark(layout, region)
    for subject in others:
        # the structure report counts the sessions and trials of every subject of the assemblies
        numbers = sessions.check_session_numbers(space, subject)
        check_design_covers(design, subject, len(numbers), space.trials_per_session(subject))
    for subject in subjects:
        n_trials = space.check_subject(subject, regions)
        check_design_covers(design, subject, len(space.sessions(subject)), n_trials)
    if space.nsdgeneral_missing() is None:
        # the structure report's published noise ceiling: every subject's ncsnr over nsdgeneral
        for subject in sorted({*others, *subjects}):
            space.nsdgeneral_ncsnr(subject)


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
        ``subject`` and ``region`` (validation report) or ``regions`` (structure report).
    """
    folders = {k: parameters[k] for k in FOLDER_PARAMETERS if parameters.get(k)}
    layout = detect_layout(
        parameters["nsd_root"],
        parameters.get("variant", DEFAULT_VARIANT),
        space=parameters.get("space", "volume"),
        **folders,
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
        coords=(
            *presentation,
            *assemblies.BRAINSCORE_NEUROID_COORDS,
            *open_space(layout).unit_coords,
        ),
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
    assemblies.load_rdm_score(layout.rdm_score(region))  # optional: None when absent
