"""Which session files a validation needs, and which of them are missing.

The images under validation come from the split CSV (the assemblies), not from the session
files found on disk: each subject needs the sessions that hold the first three showings of
those images, whatever its last file is, so a half-copied tree (a missing trailing session
too) is named instead of silently shrinking the image set. With NSD's own design file, a
subject also needs every session NSD holds for it: its ncsnr uses all of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nsdval.data import assemblies, expdesign
from nsdval.data.layout import subject_label
from nsdval.errors import InputError, MissingInputError

NSD_SESSIONS = (40, 40, 32, 30, 40, 32, 40, 30)
"""Sessions NSD holds for subjects 1-8; their ncsnr uses every one of them."""
NSD_DESIGN_SHAPE = (30000, 8, 10000)
"""Trials of ``masterordering`` and the shape of ``subjectim`` of NSD's own design file."""


def split_images(path):
    """The 0-based NSD ids of the split CSV: the images under validation, sorted."""
    ids = pd.to_numeric(assemblies.load_split(path)["nsd_id"], errors="coerce").to_numpy()
    if not np.all(np.isfinite(ids) & (ids == np.round(ids)) & (ids >= 0)):
        raise InputError(path, "column 'nsd_id' holds values that are not NSD ids")
    return np.unique(ids.astype(np.int64))


def needed_sessions(design, subject, images, trials_per_session):
    """Sessions holding the first three showings of each image, and how many each holds.

    The images come from the assemblies, not from the session files found on disk, so a
    missing session (a trailing one too) cannot silently shrink the image set.

    Parameters
    ----------
    design : ExpDesign
    subject : int
    images : (n,) int array
        0-based NSD ids under validation.
    trials_per_session : int

    Returns
    -------
    dict of int to int
        Session number -> trials of those images it holds.

    Examples
    --------
    >>> d = expdesign.ExpDesign(np.array([1, 2, 1, 1, 2, 2]), np.array([[5, 9]]), np.array([5]))
    >>> needed_sessions(d, 1, np.array([4]), 2)
    {1: 1, 2: 2}
    """
    n_sessions = -(-design.masterordering.size // int(trials_per_session))
    usable = n_sessions * int(trials_per_session) <= design.masterordering.size
    table = expdesign.trial_table(
        design, subject, n_sessions if usable else n_sessions - 1, trials_per_session
    )
    rows = table[table["nsd_id"].isin(images) & (table["repetition"] < expdesign.N_REPETITIONS)]
    sessions, counts = np.unique(rows["session"].to_numpy(), return_counts=True)
    return dict(zip(sessions.tolist(), counts.tolist(), strict=True))


def check_needed_sessions(space, design, subject, images):
    """Raise naming the first session file that holds trials of the images and is missing.

    With NSD's own design file, a subject must also have every session NSD holds for it
    (:data:`NSD_SESSIONS`): its ncsnr, which the assemblies' ``nc_testset`` comes from, is
    computed over all of them.
    """
    sessions = session_files(space, subject)
    trials = space.trials_per_session(subject)
    for session, count in needed_sessions(design, subject, images, trials).items():
        if session not in sessions:
            raise MissingInputError(
                space.session_paths(subject, session)[0],
                f"betas session {session} of {subject_label(subject)}, which holds {count} "
                f"trials of the {len(images)} images under validation",
            )
    check_nsd_session_count(space, design, subject, sessions)


def check_nsd_session_count(space, design, subject, sessions):
    """With NSD's own design file, raise naming the first of NSD's sessions that is missing."""
    shipped = (design.masterordering.size, *design.subjectim.shape) == NSD_DESIGN_SHAPE
    if shipped and 1 <= subject <= len(NSD_SESSIONS) and len(sessions) < NSD_SESSIONS[subject - 1]:
        n = NSD_SESSIONS[subject - 1]
        first = next(s for s in range(1, n + 1) if s not in sessions)
        raise MissingInputError(
            space.session_paths(subject, first)[0],
            f"betas session {first} of {subject_label(subject)} (NSD holds {n} sessions for "
            f"it; its ncsnr, behind nc_testset, uses every one)",
        )


def check_session_numbers(space, subject):
    """Raise unless a subject's session files are numbered 1, 2, ..., N without a gap.

    The chain maps global trial ``t`` to session ``t // trials + 1``; a missing session
    would silently shift every later trial onto the wrong image.

    Returns
    -------
    list of int
        The session numbers.
    """
    sessions = session_files(space, subject)
    for expected, found in enumerate(sessions, 1):
        if found != expected:
            listed = f"{len(sessions)} session files, numbered up to {sessions[-1]}"
            what = f"betas session {expected} of {subject_label(subject)} ({listed})"
            raise MissingInputError(space.session_paths(subject, expected)[0], what)
    return sessions


def session_files(space, subject):
    """A subject's session numbers on disk; raise naming its folder when there is none.

    ``space`` is the tree's :class:`~nsdval.data.space.DataSpace`.
    """
    sessions = space.sessions(subject)
    if not sessions:
        raise MissingInputError(space.betas_dir(subject), space.sessions_described)
    return sessions
