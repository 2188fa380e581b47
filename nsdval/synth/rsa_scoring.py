"""The generator's own copy of the ``-rdm`` benchmarks (``Allen2022_fmri*.REGION-rdm``).

Written apart from ``nsdval.analysis.rsa``, and on purpose another way, so that the scores
in ``score_rdm.json`` are an independent reference: the RDMs come from
``scipy.spatial.distance.pdist(metric="correlation")`` (condensed: the upper triangle,
``k = 1``, row-major), Spearman from ``scipy.stats.spearmanr``, the mean RDMs from
``np.mean`` over the subjects' triangles. It reads the Brain-Score assemblies and the
activations as packaged (faults included) and follows NSD_FORMATS ("The ``-rdm``
benchmarks"):

- the neuroids of the region with ``nc_testset > 30``;
- rows: the train images, then the test images with their repetitions averaged (nanmean,
  as for the ridge benchmark), sorted by ``stimulus_id``; the model's rows are the
  activations of the same images in the same order;
- per subject, raw = Spearman(model RDM, subject RDM); raw = mean over subjects;
- ceiling = mean over subjects of Spearman(subject RDM, mean RDM of all subjects);
  ``lower_bound_loo`` = the same against the mean RDM of the other subjects;
  score = raw / ceiling, neither squared nor clipped.

An image constant over the neuroids has no correlation: its distances are NaN, and so are
the Spearman correlations and the means that use them (no NaN is skipped).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import pdist, squareform
from scipy.stats import spearmanr

from nsdval.synth.scoring import NC_THRESHOLD, repetition_cube


@dataclass(frozen=True)
class RdmInputs:
    """What one region's ``-rdm`` score is computed from.

    Attributes
    ----------
    model : (n_pairs,) float array
        Upper triangle of the model RDM, rows as ``values``.
    values : (n_rows, n_neuroids) float array
        The region's responses, one row per image (or repetition), sorted by stimulus_id.
    subjects : (n_neuroids,) str array
        The subject of each column of ``values``.
    """

    model: np.ndarray
    values: np.ndarray
    subjects: np.ndarray


def rdm_triangle(values):
    """Return the upper triangle (k = 1, row-major) of 1 - Pearson r between rows, float64.

    Examples
    --------
    >>> rdm_triangle([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [2.0, 4.0, 6.0]]).round(12).tolist()
    [2.0, 0.0, 2.0]
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return pdist(np.asarray(values, dtype=np.float64), metric="correlation")


def spearman(a, b):
    """Return the Spearman correlation of two vectors (average ranks for ties), a float.

    Examples
    --------
    >>> round(spearman([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 20.0, 90.0]), 12)  # 3 / sqrt(10)
    0.948683298051
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(spearmanr(a, b).statistic)


def rsa_ceilings(triangles):
    """Return the RSA ceiling and its leave-one-out lower bound.

    Parameters
    ----------
    triangles : sequence of (n_pairs,) float arrays
        Every subject's RDM triangle.

    Returns
    -------
    ceiling : float
        Mean over subjects of Spearman(subject, mean of all subjects, itself included).
    lower_bound_loo : float
        Mean over subjects of Spearman(subject, mean of the other subjects); NaN for one.
    """
    stack = np.asarray(triangles, dtype=np.float64)
    together = stack.mean(axis=0)
    ceiling = np.mean([spearman(row, together) for row in stack])
    with warnings.catch_warnings():  # the mean of no other subject: NaN, said once here
        warnings.simplefilter("ignore", RuntimeWarning)
        others = [np.delete(stack, index, axis=0).mean(axis=0) for index in range(len(stack))]
    bound = np.mean([spearman(row, other) for row, other in zip(stack, others, strict=True)])
    return float(ceiling), float(bound)


def rsa_report(model, triangles):
    """Return the ``-rdm`` scores of a model against every subject's RDM.

    Parameters
    ----------
    model : (n_pairs,) float array
        The model RDM's triangle.
    triangles : dict
        Subject label -> that subject's RDM triangle (same rows as the model).

    Returns
    -------
    dict
        ``score``, ``raw``, ``ceiling``, ``lower_bound_loo`` and ``subjects``
        (label -> ``{"raw": ...}``).
    """
    subjects = {label: {"raw": spearman(model, t)} for label, t in triangles.items()}
    raw = float(np.mean([entry["raw"] for entry in subjects.values()]))
    ceiling, bound = rsa_ceilings(list(triangles.values()))
    return {
        "score": raw / ceiling,
        "raw": raw,
        "ceiling": ceiling,
        "lower_bound_loo": bound,
        "subjects": subjects,
    }


def benchmark_rows(train, test, *, averaged=True):
    """Return the stimulus ids and values of the RDM rows, sorted by stimulus_id.

    Parameters
    ----------
    train, test : xarray.DataArray
        Assemblies (presentation, neuroid) of the region's kept neuroids.
    averaged : bool
        One test row per image, the nanmean of its repetitions; ``False`` keeps every test
        repetition as a row of its own.

    Returns
    -------
    ids : (n_rows,) str array
    values : (n_rows, n_neuroids) float64 array
    """
    if averaged:
        cube, test_ids = repetition_cube(test)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            test_values = np.nanmean(cube, axis=1)
    else:
        test_ids = test["stimulus_id"].values.tolist()
        test_values = np.asarray(test.values, dtype=np.float64)
    ids = np.array([*train["stimulus_id"].values.tolist(), *test_ids])
    values = np.concatenate([np.asarray(train.values, dtype=np.float64), test_values])
    order = np.argsort(ids, kind="stable")
    return ids[order], values[order]


def model_triangle(activations, ids):
    """Return the model RDM's triangle over the rows ``ids`` (an image may come back).

    The RDM is computed once per image (train and test activations together); a pair of
    rows of the same image has distance 0.

    Parameters
    ----------
    activations : tuple of xarray.DataArray
        Train and test activations (presentation, neuroid) with ``stimulus_id``.
    ids : (n_rows,) str array
        The stimulus id of each RDM row.
    """
    features = {}
    for array in activations:
        for image, row in zip(array["stimulus_id"].values.tolist(), array.values, strict=True):
            features.setdefault(image, np.asarray(row, dtype=np.float64))
    images, rows = np.unique(ids, return_inverse=True)
    missing = [image for image in images.tolist() if image not in features]
    if missing:
        raise RuntimeError(f"no activations for {missing[:3]}")
    square = squareform(rdm_triangle([features[image] for image in images.tolist()]))
    upper = np.triu_indices(len(ids), k=1)
    return square[rows[upper[0]], rows[upper[1]]]


def region_inputs(train, test, activations, region, *, averaged=True):
    """Return the :class:`RdmInputs` of one region of the packaged assemblies.

    Parameters
    ----------
    train, test : xarray.DataArray
        Brain-Score assemblies (presentation, neuroid, time_bin).
    activations : tuple of xarray.DataArray
        Train and test model activations.
    region : str
        Region name.
    averaged : bool
        See :func:`benchmark_rows`.
    """
    keep = (train["region"].values == region) & (train["nc_testset"].values > NC_THRESHOLD)
    train, test = train.isel(time_bin=0, neuroid=keep), test.isel(time_bin=0, neuroid=keep)
    ids, values = benchmark_rows(train, test, averaged=averaged)
    return RdmInputs(model_triangle(activations, ids), values, train["subject"].values)


def subject_triangles(inputs):
    """Return subject label -> RDM triangle of its columns, subjects in column order."""
    return {
        label: rdm_triangle(inputs.values[:, inputs.subjects == label])
        for label in dict.fromkeys(inputs.subjects.tolist())
    }


def score_region_rdm(train, test, activations, region):
    """Score one region the way the ``-rdm`` benchmark does (see the module docstring).

    Returns
    -------
    dict
        ``score``, ``raw``, ``ceiling``, ``lower_bound_loo`` and per-subject ``raw``.
    """
    inputs = region_inputs(train, test, activations, region)
    return rsa_report(inputs.model, subject_triangles(inputs))
