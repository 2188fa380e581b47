"""The known defects the generator can plant in the surface (fsaverage) family.

As in :mod:`nsdval.synth.faults`, each function is one hook of the surface packaging; with
``fault=None`` (or any volume fault) it does the correct thing. Raw MGH betas, ncsnr files,
label files and the design are never touched. A wrong /300 on the MGH values is not among
them: the session z-score cancels any scale, so no validator can or should see it.
"""

from __future__ import annotations

import warnings

import numpy as np

from nsdval.synth.fsaverage import region_vertices
from nsdval.synth.presets import HEMISPHERES

SURFACE_FAULTS = {
    "surface-hemispheres-swapped": "Brain-Score surface values of each subject and region stored "
    "rh block first, coordinates still lh first",
    "surface-vertex-index-off-by-one": "vertex_index one too high in the Brain-Score surface "
    "assemblies",
    "surface-labels-lr-swapped": "lh vertices chosen with the rh.* label files and rh with lh.* "
    "(region and Brain-Score surface assemblies)",
    "surface-nan-not-filled": "NaN left in the Brain-Score surface values (no NaN -> 0)",
    "surface-test-reps-filled-like-train": "a NaN test repetition filled with its image's "
    "train-style (nanmean) value instead of 0",
    "surface-stage1-nan-aware": "the session z-score skips NaN, so a few NaN trials no longer "
    "blank the vertex's whole session",
    "surface-v2-from-v3": "V2 taken from Kastner2015 labels 5/6 (V3v, V3d) instead of 3/4",
    "surface-nc-other-hemisphere": "Brain-Score surface nc_testset from the other hemisphere's "
    "ncsnr at the same vertex index",
    "surface-subject-major": "Brain-Score surface neuroids ordered subject-major (the volume's "
    "order), not region-major",
    "surface-ids-per-hemisphere": "Brain-Score surface neuroid_id counter restarts at v00000 for "
    "rh instead of counting across both hemispheres",
    "surface-region-assembly-3rep-only": "region surface assemblies hold only the images with 3 "
    "repetitions in every subject, not all shared images",
    "surface-rep-mean-not-nan-aware": "repetitions averaged with mean, not nanmean: one NaN "
    "repetition blanks the average",
}

V3_LABELS = (5, 6)


def region_columns(labels, region, fault):
    """Return the vertices of a region per hemisphere, as the packager selects them.

    ``surface-labels-lr-swapped`` reads each hemisphere's labels from the other file;
    ``surface-v2-from-v3`` takes V2 from Kastner2015 labels 5 and 6.

    Returns
    -------
    dict
        ``{"lh": (n_lh,) int array, "rh": (n_rh,) int array}``, ascending.
    """
    kastner = V3_LABELS if fault == "surface-v2-from-v3" and region == "V2" else None
    source = {"lh": "rh", "rh": "lh"} if fault == "surface-labels-lr-swapped" else {}
    return {
        hemi: region_vertices(labels[source.get(hemi, hemi)], region, kastner)
        for hemi in HEMISPHERES
    }


def repetition_mean(per_rep, fault):
    """Return the average of the repetitions (axis 1): nanmean, or mean on the fault.

    Examples
    --------
    >>> reps = np.array([[[1.0], [np.nan], [3.0]]])
    >>> repetition_mean(reps, None).ravel().tolist()
    [2.0]
    >>> repetition_mean(reps, "surface-rep-mean-not-nan-aware").ravel().tolist()
    [nan]
    """
    if fault == "surface-rep-mean-not-nan-aware":
        return per_rep.mean(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(per_rep, axis=1)


def region_rows(min_reps, fault):
    """Return the shared-image rows of the region assemblies (all of them, correctly)."""
    if fault == "surface-region-assembly-3rep-only":
        return np.flatnonzero(min_reps >= 3)
    return np.arange(min_reps.size)


def fill(train, test, train_style, fault):
    """Fill NaN in the globally z-scored values.

    Parameters
    ----------
    train : (n_train, n) float array
        Train images, repetition averages.
    test : (n_test, 3, n) float array
        Test repetitions.
    train_style : (n_test, n) float array
        Test images averaged like the train images (before filling).
    fault : str or None
        Active fault.

    Returns
    -------
    train, test
        NaN -> 0, each test repetition on its own; ``surface-nan-not-filled`` keeps NaN,
        ``surface-test-reps-filled-like-train`` fills a NaN repetition with its image's
        train-style value (then NaN -> 0).
    """
    if fault == "surface-nan-not-filled":
        return train, test
    if fault == "surface-test-reps-filled-like-train":
        test = np.where(np.isnan(test), train_style[:, np.newaxis, :], test)
    return np.nan_to_num(train, nan=0.0), np.nan_to_num(test, nan=0.0)


def value_order(hemisphere, fault):
    """Return the column order of one block's Brain-Score values.

    ``surface-hemispheres-swapped`` stores the rh columns first, the coordinates unchanged.

    Examples
    --------
    >>> value_order(np.array(["lh", "lh", "rh"]), "surface-hemispheres-swapped").tolist()
    [2, 0, 1]
    """
    columns = np.arange(hemisphere.size)
    if fault != "surface-hemispheres-swapped":
        return columns
    return np.concatenate([columns[hemisphere == "rh"], columns[hemisphere == "lh"]])


def ncsnr_hemisphere(hemi, fault):
    """Return the hemisphere whose ncsnr file gives a Brain-Score neuroid's nc_testset."""
    if fault == "surface-nc-other-hemisphere":
        return {"lh": "rh", "rh": "lh"}[hemi]
    return hemi


def vertex_offset(fault):
    """Return what is added to ``vertex_index`` in the Brain-Score assemblies."""
    return 1 if fault == "surface-vertex-index-off-by-one" else 0


def id_counter(hemisphere, fault):
    """Return the ``v{i:05d}`` counter of one block's neuroid ids.

    Examples
    --------
    >>> hemis = np.array(["lh", "lh", "rh"])
    >>> id_counter(hemis, None).tolist(), id_counter(hemis, "surface-ids-per-hemisphere").tolist()
    ([0, 1, 2], [0, 1, 0])
    """
    if fault != "surface-ids-per-hemisphere":
        return np.arange(hemisphere.size)
    return np.concatenate([np.arange((hemisphere == h).sum()) for h in HEMISPHERES])


def block_order(blocks, regions, fault):
    """Return the blocks in Brain-Score order: region-major (subject-major on the fault)."""
    subjects = list(dict.fromkeys(block.subject for block in blocks))

    def key(block):
        region, subject = regions.index(block.region), subjects.index(block.subject)
        return (subject, region) if fault == "surface-subject-major" else (region, subject)

    return sorted(blocks, key=key)
