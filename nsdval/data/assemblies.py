"""Loading the assemblies under validation as plain xarray objects.

Brain-Score stores an assembly as one netCDF DataArray whose MultiIndex coordinates are
flattened to plain coordinates along their dims. This module opens those files, checks
that the dims and coordinates the validation needs are there, and offers small selectors
(one subject's region, the repetitions of the test set). It never recomputes the chain
and never judges values.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from nsdval.errors import InputError, MissingInputError

NEUROID_COORDS = ("neuroid_id", "subject", "region")
"""Neuroid coordinates of every space; the space adds those of its units (``unit_coords``)."""
BRAINSCORE_NEUROID_COORDS = (*NEUROID_COORDS, "nc_testset")
PRESENTATION_COORDS = ("stimulus_id", "nsd_id")
SPLIT_COLUMNS = ("stimulus_id", "nsd_id", "split")
SCORE_KEYS = ("score", "raw", "ceiling", "subjects")
RDM_SCORE_NUMBERS = ("score", "raw", "ceiling", "lower_bound_loo")


def load_dataarray(path, *, dims, coords=(), what="assembly", neuroids=None):
    """Open a netCDF file holding one DataArray and load it into memory.

    Parameters
    ----------
    path : str or Path
        The netCDF file.
    dims : sequence of str
        Dimensions the array must have, in this order.
    coords : sequence of str
        Coordinates it must carry.
    what : str
        Description used in error messages.
    neuroids : callable or None
        Given the opened, not yet loaded, array, the positions along ``neuroid`` to load
        (e.g. one subject's region); only their values are read. ``None`` loads all.

    Returns
    -------
    xarray.DataArray
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, what)
    try:
        with xr.open_dataarray(path) as opened:
            _check_shape(opened, path, dims=dims, coords=coords, what=what)
            if neuroids is not None:
                opened = opened.isel(neuroid=_as_indexer(neuroids(opened)))
            array = opened.load()
    except InputError:
        raise
    except Exception as exc:  # xarray and its engines raise many types for bad files
        raise InputError(path, f"not a readable netCDF DataArray ({exc})") from None
    return array


def _check_shape(array, path, *, dims, coords, what):
    if tuple(array.dims) != tuple(dims):
        raise InputError(path, f"{what} dims are {tuple(array.dims)}, expected {tuple(dims)}")
    missing = [name for name in coords if name not in array.coords]
    if missing:
        raise InputError(path, f"{what} lacks coordinate {missing[0]!r}")


def _as_indexer(positions):
    """Sorted positions as a slice when they are one run (a cheaper read), else an array.

    Examples
    --------
    >>> _as_indexer(np.array([3, 4, 5])), _as_indexer(np.array([1, 3])).tolist()
    (slice(3, 6, None), [1, 3])
    """
    positions = np.asarray(positions, dtype=np.int64)
    if positions.size and np.array_equal(positions, np.arange(positions[0], positions[-1] + 1)):
        return slice(int(positions[0]), int(positions[-1]) + 1)
    return positions


def load_region_assembly(layout, region, *, subject=None):
    """Region assembly (images x voxels of all subjects), session-z-scored and averaged.

    With ``subject`` (a label, ``subjSS``) only that subject's neuroids are read.
    """
    return load_dataarray(
        layout.region_assembly(region),
        dims=("presentation", "neuroid"),
        coords=(*PRESENTATION_COORDS, "subject"),
        what=f"{region} region assembly",
        neuroids=None if subject is None else _positions(subject=subject),
    )


def load_brainscore_assembly(layout, split, unit_coords=(), *, subject=None, region=None):
    """Brain-Score train or test assembly (presentation x neuroid x time_bin).

    ``unit_coords`` (the space's, e.g. ``voxel_x``, ``voxel_y``, ``voxel_z``) must be there
    too. With ``subject`` and/or ``region`` only those neuroids are read.
    """
    presentation = (*PRESENTATION_COORDS, "repetition") if split == "test" else PRESENTATION_COORDS
    return load_dataarray(
        layout.brainscore_assembly(split),
        dims=("presentation", "neuroid", "time_bin"),
        coords=(*presentation, *BRAINSCORE_NEUROID_COORDS, *unit_coords),
        what=f"Brain-Score {split} assembly",
        neuroids=None if subject is None and region is None else _positions(subject, region),
    )


def _positions(subject=None, region=None):
    """A ``neuroids`` selector of :func:`load_dataarray`: the neuroids of a subject/region."""
    return lambda array: np.flatnonzero(neuroid_mask(array, subject=subject, region=region))


def load_activations(layout, region, split):
    """Model activations (presentation x neuroid) the benchmark scored."""
    return load_dataarray(
        layout.activations(region, split),
        dims=("presentation", "neuroid"),
        coords=("stimulus_id",),
        what=f"{region} {split} activations",
    )


def load_split(path):
    """Read the train/test split CSV (columns ``stimulus_id``, ``nsd_id``, ``split``)."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, "train/test split CSV")
    try:
        table = pd.read_csv(path)
    except Exception as exc:  # pandas raises several types for unreadable files
        raise InputError(path, f"not a readable CSV file ({exc})") from None
    missing = [c for c in SPLIT_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(path, f"split CSV lacks column {missing[0]!r}")
    return table


def _json_object(path, what):
    """The JSON object in ``path``; :class:`InputError` naming it when it is not one."""
    try:
        payload = json.loads(Path(path).read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not valid JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise InputError(path, f"{what} should be an object, found {type(payload).__name__}")
    return payload


def load_score(path):
    """Read the benchmark's reported score JSON."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, "reported benchmark score")
    score = _json_object(path, "score JSON")
    missing = [key for key in SCORE_KEYS if key not in score]
    if missing:
        raise InputError(path, f"score JSON lacks key {missing[0]!r}")
    return score


def _is_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


def load_rdm_score(path):
    """Read the ``-rdm`` benchmark's reported score JSON, if there is one.

    The file is optional: a tree may hold the ridge benchmark's output only. Its shape is
    ``score.json``'s, with the RSA ceiling's leave-one-out bound and one raw per subject::

        {"benchmark": "Allen2022_fmri.V4-rdm", "model": "...", "score": s, "raw": r,
         "ceiling": c, "lower_bound_loo": l, "subjects": {"subj01": {"raw": r1}, ...}}

    ``benchmark``, ``model`` and ``lower_bound_loo`` may be left out (a missing number fails
    its check in the report, it does not make the file unreadable).

    Parameters
    ----------
    path : str or Path
        The JSON file (:meth:`NsdLayout.rdm_score`).

    Returns
    -------
    dict or None
        None when the file does not exist.

    Raises
    ------
    InputError
        When the file is not JSON, not an object, lacks ``score``, ``raw``, ``ceiling`` or
        ``subjects``, or holds a number that is not one.
    """
    path = Path(path)
    if not path.is_file():
        return None
    score = _json_object(path, "rdm score JSON")
    missing = [key for key in SCORE_KEYS if key not in score]
    if missing:
        raise InputError(path, f"rdm score JSON lacks key {missing[0]!r}")
    numbers = {key: score[key] for key in RDM_SCORE_NUMBERS if key in score}
    subjects = score["subjects"]
    if not isinstance(subjects, dict) or not all(isinstance(v, dict) for v in subjects.values()):
        raise InputError(path, "rdm score JSON 'subjects' should map labels to objects")
    numbers.update({f"subjects.{k}.raw": v["raw"] for k, v in subjects.items() if "raw" in v})
    wrong = [key for key, value in numbers.items() if not _is_number(value)]
    if wrong:
        value = numbers[wrong[0]]
        raise InputError(path, f"rdm score JSON {wrong[0]!r} should be a number, found {value!r}")
    return score


def assembly_subjects(array):
    """Subject numbers of an assembly's ``subject`` labels (``subjSS``), sorted.

    Examples
    --------
    >>> assembly_subjects(xr.DataArray([0, 0, 0], dims="neuroid",
    ...                   coords={"subject": ("neuroid", ["subj02", "subj01", "subj02"])}))
    [1, 2]
    """
    labels = np.unique(np.asarray(array["subject"].values).astype(str))
    return sorted({int(s[4:]) for s in labels if s.startswith("subj") and s[4:].isdigit()})


def read_assembly_subjects(path):
    """Subject numbers of an assembly file, reading its ``subject`` coordinate only."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, "assembly")
    try:
        with xr.open_dataarray(path) as opened:
            return assembly_subjects(opened["subject"].load())
    except Exception as exc:  # xarray and its engines raise many types for bad files
        raise InputError(path, f"not a readable netCDF DataArray with subjects ({exc})") from None


def neuroid_mask(array, *, subject=None, region=None):
    """Boolean mask of the neuroids of one subject label and/or region."""
    mask = np.ones(array.sizes["neuroid"], dtype=bool)
    if subject is not None:
        mask &= array["subject"].values == subject
    if region is not None:
        mask &= array["region"].values == region
    return mask


def values_2d(array):
    """Values as a float64 (presentation, neuroid) array, taking time bin 0 if present."""
    if "time_bin" in array.dims:
        array = array.isel(time_bin=0)
    return np.asarray(array.transpose("presentation", "neuroid").values, dtype=np.float64)


def row_positions(ids, reference):
    """Position of each id in the sorted ``reference`` ids, -1 where absent.

    Examples
    --------
    >>> row_positions(np.array([7, 3, 9]), np.array([3, 7])).tolist()
    [1, 0, -1]
    """
    ids = np.asarray(ids)
    reference = np.asarray(reference)
    pos = np.searchsorted(reference, ids)
    pos = np.clip(pos, 0, max(reference.size - 1, 0))
    found = reference.size > 0
    hit = found & (reference[pos] == ids) if found else np.zeros(ids.shape, bool)
    return np.where(hit, pos, -1)


def repetition_values(test, nsd_ids, n_repetitions=3):
    """Arrange test presentations by repetition and image.

    Parameters
    ----------
    test : xarray.DataArray
        Test assembly (or a neuroid subset of it) with ``nsd_id`` and ``repetition``.
    nsd_ids : (n_images,) sorted int array
        Images in the wanted order.
    n_repetitions : int
        Repetitions per image.

    Returns
    -------
    (n_repetitions, n_images, n_neuroids) float64 array
        NaN where a (repetition, image) pair has no presentation.
    """
    values = values_2d(test)
    image = row_positions(test["nsd_id"].values, nsd_ids)
    rep = np.asarray(test["repetition"].values, dtype=np.int64)
    out = np.full((n_repetitions, len(nsd_ids), values.shape[1]), np.nan)
    keep = (image >= 0) & (rep >= 0) & (rep < n_repetitions)
    out[rep[keep], image[keep]] = values[keep]
    return out
