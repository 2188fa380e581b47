"""The NSD experimental design: which image each trial showed, and its repetition.

``nsd_expdesign.mat`` holds ``masterordering`` (1-based indexes into a subject's image
list, one per trial, common to all subjects), ``subjectim`` (1-based NSD ids of each
subject's images, shared images first) and ``sharedix`` (1-based NSD ids of the shared
images). Everything here is vectorized over trials; nothing reads betas or knows regions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io

from nsdval.errors import InputError, MissingInputError

DESIGN_VARIABLES = ("masterordering", "subjectim", "sharedix")
N_REPETITIONS = 3


@dataclass(frozen=True)
class ExpDesign:
    """The parsed experimental design.

    Attributes
    ----------
    masterordering : (n_trials,) int64 array
        1-based index into a subject's image list, per global trial.
    subjectim : (n_subjects, n_images) int64 array
        1-based NSD ids of each subject's images.
    sharedix : (n_shared,) int64 array
        1-based NSD ids of the shared images.
    path : str
        The file the design was read from, for messages.
    """

    masterordering: np.ndarray
    subjectim: np.ndarray
    sharedix: np.ndarray
    path: str = "<memory>"

    @property
    def n_subjects(self):
        """Number of subjects in ``subjectim``."""
        return self.subjectim.shape[0]


def _as_index_array(values, name, path, ndim):
    array = np.asarray(values)
    if array.dtype.kind not in "iuf" or array.size == 0:
        raise InputError(path, f"variable {name!r} is not a numeric array")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array) & (array == np.round(array))):
        raise InputError(path, f"variable {name!r} holds non-integer values")
    array = array.astype(np.int64)
    if ndim == 1:
        array = array.ravel()
    elif array.ndim != 2:
        raise InputError(path, f"variable {name!r} should be 2-D, found shape {array.shape}")
    if array.min() < 1:
        raise InputError(
            path, f"variable {name!r} should hold 1-based indexes, found {array.min()}"
        )
    return array


def load_expdesign(path):
    """Read ``nsd_expdesign.mat``.

    Parameters
    ----------
    path : str or Path
        The ``.mat`` file.

    Returns
    -------
    ExpDesign
        Integer arrays, whether the file stores integers or floats.

    Raises
    ------
    MissingInputError
        If the file does not exist.
    InputError
        If it is not a MATLAB file, lacks a variable or holds impossible indexes.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, "experimental design (nsd_expdesign.mat)")
    try:
        mat = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises several types for unreadable files
        raise InputError(path, f"not a readable MATLAB file ({exc})") from None
    missing = [name for name in DESIGN_VARIABLES if name not in mat]
    if missing:
        raise InputError(path, f"missing variable {missing[0]!r} (expected {DESIGN_VARIABLES})")
    design = ExpDesign(
        masterordering=_as_index_array(mat["masterordering"], "masterordering", path, 1),
        subjectim=_as_index_array(mat["subjectim"], "subjectim", path, 2),
        sharedix=_as_index_array(mat["sharedix"], "sharedix", path, 1),
        path=str(path),
    )
    if design.masterordering.max() > design.subjectim.shape[1]:
        raise InputError(path, "masterordering indexes past the end of subjectim's image lists")
    return design


def trial_table(design, subject, n_sessions, trials_per_session):
    """Tabulate every trial of one subject's sessions.

    Parameters
    ----------
    design : ExpDesign
        The experimental design.
    subject : int
        Subject number, from 1.
    n_sessions : int
        Number of sessions the subject completed.
    trials_per_session : int
        Trials in each session.

    Returns
    -------
    pandas.DataFrame
        One row per global trial with columns ``trial`` (0-based global index),
        ``session`` (from 1), ``position`` (0-based within session), ``image_index``
        (1-based into the subject's list), ``nsd_id`` (0-based), ``repetition``
        (0-based occurrence of the image so far) and ``shared``.

    Examples
    --------
    >>> d = ExpDesign(np.array([1, 2, 1, 1]), np.array([[5, 9]]), np.array([5]))
    >>> trial_table(d, 1, 2, 2)[["session", "nsd_id", "repetition"]].to_numpy().tolist()
    [[1, 4, 0], [1, 8, 0], [2, 4, 1], [2, 4, 2]]
    """
    n_trials = int(n_sessions) * int(trials_per_session)
    if not 1 <= subject <= design.n_subjects:
        raise InputError(design.path, f"no subjectim row for subject {subject}")
    if n_trials > design.masterordering.size:
        raise InputError(
            design.path,
            f"{n_sessions} sessions x {trials_per_session} trials exceed the "
            f"{design.masterordering.size} trials of masterordering",
        )
    trial = np.arange(n_trials)
    image_index = design.masterordering[:n_trials]
    nsd_id = design.subjectim[subject - 1, image_index - 1] - 1
    repetition = pd.Series(image_index).groupby(image_index).cumcount().to_numpy()
    return pd.DataFrame(
        {
            "trial": trial,
            "session": trial // trials_per_session + 1,
            "position": trial % trials_per_session,
            "image_index": image_index,
            "nsd_id": nsd_id,
            "repetition": repetition,
            "shared": np.isin(nsd_id + 1, design.sharedix),
        }
    )


def images_with_repetitions(table, n_repetitions=N_REPETITIONS, shared_only=False):
    """NSD ids (0-based, sorted) of images shown exactly ``n_repetitions`` times in ``table``.

    Examples
    --------
    >>> d = ExpDesign(np.array([1, 2, 1, 1]), np.array([[5, 9]]), np.array([5]))
    >>> images_with_repetitions(trial_table(d, 1, 2, 2)).tolist()
    [4]
    """
    rows = table[table["shared"]] if shared_only else table
    counts = rows["nsd_id"].value_counts()
    return np.sort(counts.index[counts == n_repetitions].to_numpy())


def shared_repeated_images(tables, n_repetitions=N_REPETITIONS):
    """Shared images shown exactly ``n_repetitions`` times to every subject.

    Parameters
    ----------
    tables : sequence of pandas.DataFrame
        One :func:`trial_table` per subject, each over that subject's own sessions.
    n_repetitions : int
        Required number of presentations.

    Returns
    -------
    (n_images,) int64 array
        Sorted 0-based NSD ids: the images of the assemblies (515 in NSD).
    """
    sets = [images_with_repetitions(t, n_repetitions, shared_only=True) for t in tables]
    common = sets[0]
    for ids in sets[1:]:
        common = np.intersect1d(common, ids)
    return common.astype(np.int64)


def repetition_trials(table, nsd_ids, n_repetitions=N_REPETITIONS):
    """Global trial index of each repetition of each image, in chronological order.

    Parameters
    ----------
    table : pandas.DataFrame
        A :func:`trial_table`.
    nsd_ids : (n_images,) array of int
        0-based NSD ids, each shown exactly ``n_repetitions`` times in ``table``.
    n_repetitions : int
        Presentations per image.

    Returns
    -------
    (n_images, n_repetitions) int64 array
        Row ``i`` lists the trials of ``nsd_ids[i]``; column ``k`` is repetition ``k``.

    Raises
    ------
    ValueError
        If an image is not shown exactly ``n_repetitions`` times.
    """
    nsd_ids = np.asarray(nsd_ids, dtype=np.int64)
    rows = table[table["nsd_id"].isin(nsd_ids) & (table["repetition"] < n_repetitions)]
    counts = rows["nsd_id"].value_counts().reindex(nsd_ids, fill_value=0)
    bad = counts[counts != n_repetitions]
    if len(bad):
        raise ValueError(
            f"image nsd_id {bad.index[0]} is shown {bad.iloc[0]} times, "
            f"expected {n_repetitions} ({len(bad)} images affected)"
        )
    order = np.searchsorted(nsd_ids, rows["nsd_id"].to_numpy(), sorter=np.argsort(nsd_ids))
    order = np.argsort(nsd_ids)[order]
    trials = np.empty((nsd_ids.size, n_repetitions), dtype=np.int64)
    trials[order, rows["repetition"].to_numpy()] = rows["trial"].to_numpy()
    return trials
