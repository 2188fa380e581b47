"""The known defects the generator can plant in the packaged outputs.

Each function below is one hook of the packaging pipeline; with ``fault=None`` it does
the correct thing, with the matching fault name it introduces exactly one defect. Raw
betas, ROIs, ncsnr and the experimental design are never touched.
"""

from __future__ import annotations

import numpy as np

from nsdval.errors import ParameterError
from nsdval.synth.preprocess import session_zscore, to_psc

FAULTS = {
    "no-global-zscore": "Brain-Score train/test values lack the global z-score",
    "ddof1": "the global z-score uses the sample std (ddof=1)",
    "no-session-zscore": "the session z-score was skipped (assemblies built from raw PSC)",
    "int16-scale": "PSC truncated to whole numbers (np.trunc of int16 / 300) before z-scoring",
    "reps-misaligned": "test repetitions in reverse chronological order",
    "neuroids-shuffled": "subj01 V4 values permuted across neuroids in the Brain-Score assemblies",
    "regions-swapped": "the region labels of the last subject's V1 and V2 neuroids exchanged",
    "subjects-swapped": "the subject labels of the first two subjects exchanged",
    "train-test-leak": "3 test images replace 3 train images in the Brain-Score train assembly",
    "nsd-id-off-by-one": "1-based NSD ids in nsd_id and stimulus_id everywhere",
    "voxel-coords-transposed": "voxel_x and voxel_z exchanged in the Brain-Score assemblies",
    "nc-testset-wrong": "nc_testset from the single-trial formula 100 ncsnr^2 / (ncsnr^2 + 1)",
    "split-seed": "the train/test split drawn with RandomState(0) instead of 42",
    "score-wrong": "V4 score.json: subj01 raw and the final score reported 0.05 too high",
}

N_LEAKED = 3
SCORE_OFFSET = 0.05
SCORE_REGION = "V4"
SHUFFLED_BLOCK = ("subj01", "V4")


def check_fault(fault):
    """Return ``fault`` if it is ``None`` or a name in :data:`FAULTS`.

    Examples
    --------
    >>> check_fault("ddof1")
    'ddof1'
    """
    if fault is not None and fault not in FAULTS:
        raise ParameterError("fault", f"expected one of {', '.join(FAULTS)}, got {fault!r}")
    return fault


def split_seed(fault):
    """Return the RandomState seed of the train/test split."""
    return 0 if fault == "split-seed" else 42


def id_offset(fault):
    """Return what is added to the 0-based NSD ids in ``nsd_id`` and ``stimulus_id``."""
    return 1 if fault == "nsd-id-off-by-one" else 0


def global_stats(averaged, fault):
    """Return the mean and std of the global z-score of one block.

    Parameters
    ----------
    averaged : (n_images, n_voxels) float array
        Repetition averages of all images.
    fault : str or None
        Active fault.

    Returns
    -------
    mean, std : (n_voxels,) float arrays
        std 0 is replaced by 1.
    """
    if fault == "no-global-zscore":
        return np.zeros(averaged.shape[1]), np.ones(averaged.shape[1])
    std = averaged.std(axis=0, ddof=1 if fault == "ddof1" else 0)
    std[std == 0] = 1.0
    return averaged.mean(axis=0), std


def stats_rows(rows, fault):
    """Return the image rows of the global z-score statistics: all (train only on the fault).

    Examples
    --------
    >>> stats_rows((np.array([0, 2]), np.array([1])), "4subj-global-z-train-only").tolist()
    [0, 2]
    """
    return rows[0] if fault == "4subj-global-z-train-only" else slice(None)


def order_repetitions(per_rep, fault):
    """Return the test repetitions in stored order (reversed for ``reps-misaligned``)."""
    return per_rep[:, ::-1] if fault == "reps-misaligned" else per_rep


def nc_testset(ncsnr, fault=None):
    """Return the noise ceiling of 3-trial averages in percent, NaN -> 0.

    Examples
    --------
    >>> float(nc_testset(np.array([1.0]))[0])
    75.0
    >>> float(nc_testset(np.array([1.0]), "nc-testset-wrong")[0])
    50.0
    """
    n_trials = 1.0 if fault == "nc-testset-wrong" else 3.0
    ncsnr = np.asarray(ncsnr, dtype=np.float64)
    return np.nan_to_num(100.0 * ncsnr**2 / (ncsnr**2 + 1.0 / n_trials), nan=0.0)


def train_rows(train, test, fault):
    """Return the train assembly's image rows (3 test rows leak in on ``train-test-leak``)."""
    if fault != "train-test-leak":
        return train
    return np.sort(np.concatenate([train[:-N_LEAKED], test[:N_LEAKED]]))


def relabel(table, subjects, fault):
    """Apply the label faults to the Brain-Score neuroid table.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per neuroid: ``subject``, ``region``, ``voxel_x/y/z``, ``nc_testset``.
    subjects : sequence of str
        Subject labels in order.
    fault : str or None
        Active fault.

    Returns
    -------
    pandas.DataFrame
        A relabelled copy; ``neuroid_id`` is rebuilt from the (new) labels.
    """
    table = table.copy()
    if fault == "regions-swapped":
        rows = table["subject"] == subjects[-1]
        table.loc[rows, "region"] = table.loc[rows, "region"].replace({"V1": "V2", "V2": "V1"})
    elif fault == "subjects-swapped":
        table["subject"] = table["subject"].replace(
            {subjects[0]: subjects[1], subjects[1]: subjects[0]}
        )
    elif fault == "voxel-coords-transposed":
        table[["voxel_x", "voxel_z"]] = table[["voxel_z", "voxel_x"]].to_numpy()
    return table


def neuroid_permutation(table, fault, rng):
    """Return the column order of the Brain-Score values (``neuroids-shuffled``: one block)."""
    order = np.arange(len(table))
    if fault == "neuroids-shuffled":
        subject, region = SHUFFLED_BLOCK
        block = np.flatnonzero((table["subject"] == subject) & (table["region"] == region))
        order[block] = block[_derangement(block.size, rng)]
    return order


def _derangement(size, rng):
    """Return a random permutation of ``range(size)`` that moves every element (size > 1)."""
    order = rng.permutation(size)
    result = np.empty(size, dtype=int)
    result[order] = np.roll(order, 1)
    return result


def falsify_score(report, region, fault):
    """Return ``report`` with subj01's raw and the final score raised on ``score-wrong`` (V4)."""
    if fault != "score-wrong" or region != SCORE_REGION:
        return report
    report = {**report, "subjects": {k: dict(v) for k, v in report["subjects"].items()}}
    first = next(iter(report["subjects"]))
    report["subjects"][first]["raw"] += SCORE_OFFSET
    report["score"] += SCORE_OFFSET
    return report


def preprocessed(betas, trials, fault):
    """Return the chain's values before repetition collection: session z-scored PSC.

    ``int16-scale`` truncates the PSC first; ``no-session-zscore`` skips the z-score.

    Parameters
    ----------
    betas : (n_trials, n_voxels) int16 array
        Stored betas.
    trials : int
        Trials per session.
    fault : str or None
        Active fault.
    """
    psc = to_psc(betas, truncate=fault == "int16-scale")
    return psc if fault == "no-session-zscore" else session_zscore(psc, trials)
