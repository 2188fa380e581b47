"""The synthetic experimental design: which image each trial shows.

The master ordering is common to all subjects, as in NSD. The shared images fall in three
groups: the assembly images, shown three times within the shortest subject's sessions; the
partial images, whose third showing comes later (so only the longer subjects see them three
times); and images shown only twice. Subject-specific images fill the remaining trials, most
of them three times, which gives the noise ceiling more images than the assemblies use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.io

N_NSD_IMAGES = 73000


@dataclass(frozen=True)
class Design:
    """The content of ``nsd_expdesign.mat`` plus the session counts.

    Parameters
    ----------
    masterordering : (n_trials_total,) int array
        1-based column indexes into ``subjectim``.
    subjectim : (n_subjects, n_images_per_subject) int array
        1-based NSD ids; the first ``n_shared`` columns hold the shared images.
    sharedix : (n_shared,) int array
        1-based NSD ids of the shared images, ascending.
    sessions : tuple of int
        Sessions per subject.
    trials : int
        Trials per session.
    """

    masterordering: np.ndarray
    subjectim: np.ndarray
    sharedix: np.ndarray
    sessions: tuple
    trials: int

    def trial_nsd_ids(self, subject_index):
        """Return the 0-based NSD id shown on each trial of one subject's sessions.

        Parameters
        ----------
        subject_index : int
            0-based subject index.

        Returns
        -------
        (n_sessions * trials,) int array
        """
        n_trials = self.sessions[subject_index] * self.trials
        columns = self.masterordering[:n_trials] - 1
        return self.subjectim[subject_index, columns] - 1

    def assembly_ids(self):
        """Return the sorted 0-based NSD ids of the assembly images.

        These are the shared images shown exactly three times within every subject's
        sessions; with a common ordering, within the shortest subject's sessions.
        """
        n_trials = min(self.sessions) * self.trials
        columns, counts = np.unique(self.masterordering[:n_trials], return_counts=True)
        shared = columns[(counts == 3) & (columns <= len(self.sharedix))]
        return np.sort(self.subjectim[0, shared - 1] - 1)

    def assembly_trials(self):
        """Return the global trial indexes of the three showings of each assembly image.

        Returns
        -------
        (n_images, 3) int array
            Row n holds the chronological trials of ``assembly_ids()[n]``; the same for
            every subject, since the ordering is common.
        """
        ids = self.assembly_ids()
        trial_ids = self.trial_nsd_ids(int(np.argmin(self.sessions)))
        return np.stack([np.flatnonzero(trial_ids == nsd_id) for nsd_id in ids])


def make_design(preset, rng):
    """Draw the images and the master ordering of a preset.

    Parameters
    ----------
    preset : Preset
        The dataset sizes.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    Design
    """
    ordering = _master_ordering(preset, rng)
    n_columns = int(ordering.max())
    n_specific = n_columns - preset.n_shared
    ids = rng.choice(N_NSD_IMAGES, preset.n_shared + preset.n_subjects * n_specific, replace=False)
    ids = ids + 1
    shared = ids[: preset.n_shared]
    specific = ids[preset.n_shared :].reshape(preset.n_subjects, n_specific)
    subjectim = np.concatenate([np.tile(shared, (preset.n_subjects, 1)), specific], axis=1)
    return Design(
        masterordering=ordering,
        subjectim=subjectim.astype(np.int32),
        sharedix=np.sort(shared).astype(np.int32),
        sessions=tuple(preset.sessions),
        trials=preset.trials,
    )


def _master_ordering(preset, rng):
    """Return the 1-based column shown on every trial of the longest subject."""
    n_total = preset.n_trials_total
    n_early = min(preset.sessions) * preset.trials
    early = rng.permutation(n_early)
    late = n_early + rng.permutation(n_total - n_early)
    groups = np.split(
        rng.permutation(preset.n_shared) + 1, [preset.n_assembly, preset.n_shared - preset.n_twice]
    )
    assembly, partial, twice = groups
    ordering = np.zeros(n_total, dtype=np.int32)
    early_events = np.concatenate([np.repeat(assembly, 3), np.repeat(partial, 2)])
    ordering[early[: early_events.size]] = early_events
    ordering[late[: partial.size]] = partial
    free = rng.permutation(np.concatenate([early[early_events.size :], late[partial.size :]]))
    n_specific = -(-(free.size - 2 * twice.size) // 3)
    specific = preset.n_shared + 1 + np.arange(n_specific)
    fill = np.concatenate([np.repeat(twice, 2), np.repeat(specific, 3)])[: free.size]
    ordering[free] = fill
    return ordering


def write_expdesign(path, design):
    """Write ``nsd_expdesign.mat`` with 1 x n rows, as NSD stores them.

    Parameters
    ----------
    path : pathlib.Path
        Target file.
    design : Design
        The design to store.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(
        path,
        {
            "masterordering": design.masterordering[np.newaxis, :],
            "subjectim": design.subjectim,
            "sharedix": design.sharedix[np.newaxis, :],
        },
    )
