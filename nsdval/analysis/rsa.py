"""Brain-Score's ``-rdm`` benchmark scoring in plain numpy: RDMs, Spearman, the RSA ceiling.

What ``Allen2022_fmri[_4subj|_surface|_surface_4subj].REGION-rdm`` computes, independently of
Brain-Score's ``RSABenchmark``, ``RDM``, ``RDMSimilarity`` and ``RSACeiling``:

- RDM of an (images x units) matrix: 1 - Pearson correlation between rows, float64 (as
  ``np.corrcoef``, clipped to [-1, 1]); RDMs compared by the Spearman correlation (average
  ranks for ties) of their upper triangles (``k = 1``, row-major);
- raw = mean over subjects of Spearman(model RDM, subject RDM); ceiling = mean over subjects
  of Spearman(subject RDM, mean RDM of all subjects, itself included); leave-one-out lower
  bound = the same against the mean RDM of the other subjects; score = raw / ceiling,
  neither squared nor clipped.

Images must be in the same order in every array: Brain-Score sorts the model's and each
subject's RDM by ``stimulus_id`` before comparing them (:func:`sort_by_stimulus` here). The
ceiling needs no sorting: a Spearman correlation of upper triangles does not change when
all RDMs permute their images alike.

NaN, as Brain-Score: an image constant over the units (e.g. all zero) has no correlation, so
its RDM row is NaN, ``scipy.stats.spearmanr`` returns NaN, and ``np.mean`` carries it to raw,
ceiling, bound and score. A unit constant over images is one more coordinate of every image
(no NaN). An upper triangle with all pairs tied has no Spearman correlation: NaN. One subject
alone has a ceiling of 1 and no leave-one-out bound (NaN: the mean over no other subject).

Efficiency: each RDM comes from one product of row-centred float64 values, each upper
triangle is ranked once, and every Spearman is a dot product of centred unit-norm ranks.
The largest arrays are a float64 copy of one matrix, its (n_images, n_images) correlations
and the (n_subjects + 1, n_pairs) triangles and ranks. Arrays in, floats out.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from nsdval.errors import ParameterError

MIN_IMAGES = 3
"""Fewest images whose RDM has more than one pair (a Spearman correlation needs two)."""


def _as_matrix(name, values, *, min_rows=1):
    array = np.asarray(values)
    if array.ndim != 2 or array.shape[0] < min_rows or array.shape[1] < 1:
        problem = f"expected an (n_images >= {min_rows}, n_units >= 1) array, got {array.shape}"
        raise ParameterError(name, problem)
    return array


def row_correlations(values):
    """Pearson correlation between every two rows, float64, clipped to [-1, 1].

    One product of the row-centred matrix with its transpose, then each entry divided by
    the two row norms. A constant row has NaN correlations (as ``np.corrcoef``).

    Parameters
    ----------
    values : (n_images, n_units) array

    Returns
    -------
    (n_images, n_images) float64 array

    Examples
    --------
    >>> row_correlations([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [1.0, 2.0, 4.0]]).round(3)
    array([[ 1.   , -1.   ,  0.982],
           [-1.   ,  1.   , -0.982],
           [ 0.982, -0.982,  1.   ]])
    """
    centred = np.array(_as_matrix("values", values), dtype=np.float64)  # a copy, even of float64
    centred -= centred.mean(axis=1, keepdims=True)
    gram = centred @ centred.T
    del centred
    norms = np.sqrt(np.diag(gram))
    with np.errstate(divide="ignore", invalid="ignore"):
        gram /= norms[:, None]
        gram /= norms[None, :]
    return np.clip(gram, -1.0, 1.0, out=gram)


def rdm(values):
    """Representational dissimilarity matrix: 1 - Pearson correlation between rows (images).

    Parameters
    ----------
    values : (n_images, n_units) array

    Returns
    -------
    (n_images, n_images) float64 array
        Zero diagonal (up to rounding); NaN rows and columns for constant images.

    Examples
    --------
    >>> rdm([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [2.0, 4.0, 6.0]]).round(3) + 0.0
    array([[0., 2., 0.],
           [2., 0., 2.],
           [0., 2., 0.]])
    """
    return 1.0 - row_correlations(values)


def upper_triangle(matrix):
    """The entries above the diagonal (``k = 1``), row by row.

    Parameters
    ----------
    matrix : (n, n) array

    Returns
    -------
    (n * (n - 1) / 2,) array

    Examples
    --------
    >>> upper_triangle(np.arange(9).reshape(3, 3))
    array([1, 2, 5])
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ParameterError("matrix", f"expected a square 2-D array, got shape {matrix.shape}")
    return matrix[np.triu(np.ones(matrix.shape, dtype=bool), k=1)]


def rdm_upper_triangle(values):
    """``upper_triangle(rdm(values))`` without keeping a second (n, n) array.

    Examples
    --------
    >>> rdm_upper_triangle([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [2.0, 4.0, 6.0]]).round(3) + 0.0
    array([2., 0., 2.])
    """
    return 1.0 - upper_triangle(row_correlations(values))


def average_ranks(vector):
    """Ranks 1..n of a vector's values, tied values sharing their mean rank.

    Equals ``scipy.stats.rankdata(vector, method="average")`` for NaN-free input, with one
    sort and, when there are no ties, no further pass over the sorted values.

    Examples
    --------
    >>> average_ranks([0.5, 0.1, 0.5, 0.3])
    array([3.5, 1. , 3.5, 2. ])
    """
    vector = np.asarray(vector, dtype=np.float64)
    order = np.argsort(vector)
    ordered = vector[order]
    starts_run = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    ranks = np.empty(vector.size)
    if starts_run.all():
        ranks[order] = np.arange(1.0, vector.size + 1.0)
        return ranks
    starts = np.flatnonzero(starts_run)
    ends = np.append(starts[1:], vector.size)  # a run holds sorted positions starts..ends-1
    ranks[order] = ((starts + 1 + ends) / 2.0)[np.cumsum(starts_run) - 1]
    return ranks


def spearman_ranks(vector):
    """Average ranks, centred and scaled to unit norm: Spearman = their dot product.

    Parameters
    ----------
    vector : (n,) array

    Returns
    -------
    (n,) float64 array
        All NaN when ``vector`` holds a NaN or is constant (no Spearman correlation).

    Examples
    --------
    >>> spearman_ranks([10.0, 30.0, 20.0]).round(4) + 0.0
    array([-0.7071,  0.7071,  0.    ])
    """
    vector = np.asarray(vector, dtype=np.float64)
    if vector.ndim != 1:
        raise ParameterError("vector", f"expected a 1-D array, got shape {vector.shape}")
    if np.isnan(vector).any():
        return np.full(vector.size, np.nan)
    ranks = average_ranks(vector)
    ranks -= (vector.size + 1) / 2.0  # the mean of average ranks, exactly
    norm = np.sqrt(np.einsum("i,i->", ranks, ranks))
    return ranks / norm if norm > 0 else np.full(vector.size, np.nan)


def correlation_of_ranks(ranks_a, ranks_b):
    """Dot products of :func:`spearman_ranks` outputs (rows broadcast), clipped to [-1, 1].

    ``einsum``, not BLAS: a threaded BLAS call this small costs more in thread hand-offs
    than it computes. NaN stays NaN.
    """
    return np.clip(np.einsum("...i,...i->...", ranks_a, ranks_b), -1.0, 1.0)


def spearman(a, b):
    """Spearman correlation of two vectors, average ranks for ties, as ``scipy.stats.spearmanr``.

    Parameters
    ----------
    a, b : (n,) arrays, n >= 2

    Returns
    -------
    float
        NaN when either vector holds a NaN or is constant.

    Examples
    --------
    >>> spearman([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0])
    0.8
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 1 or a.size < 2:
        raise ParameterError("a", f"expected a 1-D array of >= 2 values, got shape {a.shape}")
    if b.shape != a.shape:
        raise ParameterError("b", f"expected shape {a.shape} (a's), got {b.shape}")
    return float(correlation_of_ranks(spearman_ranks(a), spearman_ranks(b)))


def sort_by_stimulus(values, stimulus_ids, *, unique=True):
    """Rows sorted by their stimulus id, as Brain-Score aligns RDMs before comparing them.

    Parameters
    ----------
    values : (n_images, n_units) array
    stimulus_ids : (n_images,) array of unique ids
    unique : bool
        Refuse a repeated id (default); ``False`` keeps repeats in order (a stable sort,
        as Brain-Score's), so a leaky split's benchmark can still be reproduced.

    Returns
    -------
    values : (n_images, n_units) array
        The rows in ascending id order.
    stimulus_ids : (n_images,) array
        The sorted ids; compare them between arrays to check the alignment.

    Examples
    --------
    >>> values, ids = sort_by_stimulus([[2.0], [0.0], [1.0]], ["c", "a", "b"])
    >>> values.ravel().tolist(), ids.tolist()
    ([0.0, 1.0, 2.0], ['a', 'b', 'c'])
    """
    values = _as_matrix("values", values)
    ids = np.asarray(stimulus_ids)
    if ids.shape != (values.shape[0],):
        raise ParameterError(
            "stimulus_ids", f"expected ({values.shape[0]},) ids, one per row, got {ids.shape}"
        )
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    repeated = ids[1:] == ids[:-1]
    if unique and repeated.any():
        raise ParameterError("stimulus_ids", f"repeated id {ids[1:][repeated][0].item()!r}")
    return values[order], ids


@dataclass(frozen=True, eq=False)
class RsaBenchmark:
    """The numbers of one region's ``-rdm`` benchmark.

    Attributes
    ----------
    raw : float
        Mean over subjects of Spearman(model RDM, subject RDM).
    ceiling : float
        Mean over subjects of Spearman(subject RDM, mean RDM of all subjects).
    lower_bound_loo : float
        Mean over subjects of Spearman(subject RDM, mean RDM of the other subjects).
    score : float
        ``raw / ceiling``.
    subject_raws : dict
        Subject label -> its Spearman(model RDM, subject RDM), labels sorted.
    """

    raw: float
    ceiling: float
    lower_bound_loo: float
    score: float
    subject_raws: dict


def _as_subjects(subject_values, n_images=None):
    """Labels (sorted, or positions) -> matrices with one common number of rows."""
    if isinstance(subject_values, Mapping):
        subjects = {label: subject_values[label] for label in sorted(subject_values)}
    else:
        subjects = dict(enumerate(subject_values))
    if not subjects:
        raise ParameterError("subject_values", "at least one subject is needed, got none")
    for label, values in subjects.items():
        values = _as_matrix("subject_values", values, min_rows=MIN_IMAGES)
        n_images = values.shape[0] if n_images is None else n_images
        if values.shape[0] != n_images:
            problem = f"subject {label!r} has {values.shape[0]} images, expected {n_images}"
            raise ParameterError("subject_values", problem)
        subjects[label] = values
    return subjects


_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
RANK_THREADS = min(4, _CORES or 1)
"""Threads ranking vectors side by side (numpy's sort releases the GIL)."""


def _ranks_of(vectors):
    """:func:`spearman_ranks` of each vector, one row per vector, on ``RANK_THREADS``."""
    if len(vectors) == 1 or RANK_THREADS == 1:
        return np.stack([spearman_ranks(vector) for vector in vectors])
    with ThreadPoolExecutor(max_workers=RANK_THREADS) as pool:
        return np.stack(list(pool.map(spearman_ranks, vectors)))


def _triangles_and_ranks(matrices):
    """Each matrix's RDM upper triangle and its Spearman ranks, one row per matrix.

    Every matrix product first, then every ranking: the BLAS threads go idle once.
    """
    triangles = np.stack([rdm_upper_triangle(values) for values in matrices])
    return triangles, _ranks_of(triangles)


def _ceiling_bounds(triangles, ranks):
    """(ceiling, leave-one-out bound) from the subjects' triangles and their ranks."""
    n_subjects = len(triangles)
    means = [triangles.mean(axis=0)]  # of all subjects, then without each one
    if n_subjects > 1:
        means += [np.delete(triangles, i, axis=0).mean(axis=0) for i in range(n_subjects)]
    mean_ranks = _ranks_of(means)
    ceiling = float(np.mean(correlation_of_ranks(ranks, mean_ranks[0])))
    if n_subjects == 1:
        return ceiling, float("nan")
    return ceiling, float(np.mean(correlation_of_ranks(ranks, mean_ranks[1:])))


def rsa_ceiling(subject_values):
    """Brain-Score's RSA ceiling and its leave-one-out lower bound.

    Parameters
    ----------
    subject_values : mapping label -> (n_images, n_units) array, or a sequence of them
        Each subject's values, images in the same order for every subject.

    Returns
    -------
    ceiling, lower_bound_loo : float
        Means over subjects of Spearman(subject RDM, mean RDM of all subjects) and of
        Spearman(subject RDM, mean RDM of the other subjects); the bound is NaN for one subject.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> shared = rng.normal(size=(6, 20))
    >>> [round(bound, 12) for bound in rsa_ceiling([shared, 2.0 * shared])]
    [1.0, 1.0]
    """
    return _ceiling_bounds(*_triangles_and_ranks(_as_subjects(subject_values).values()))


def score_rsa(model_values, subject_values):
    """One region's ``-rdm`` benchmark: raw, both ceiling bounds and the score.

    Parameters
    ----------
    model_values : (n_images, n_features) array
        Model activations, images in the subjects' order (see :func:`sort_by_stimulus`).
    subject_values : mapping label -> (n_images, n_units) array, or a sequence of them

    Returns
    -------
    RsaBenchmark

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> shared = rng.normal(size=(6, 20))
    >>> result = score_rsa(shared, {"subj01": shared, "subj02": shared + 1.0})
    >>> [round(value, 12) for value in (result.raw, result.ceiling, result.score)]
    [1.0, 1.0, 1.0]
    >>> list(result.subject_raws)
    ['subj01', 'subj02']
    """
    model_values = _as_matrix("model_values", model_values, min_rows=MIN_IMAGES)
    subjects = _as_subjects(subject_values, n_images=model_values.shape[0])
    triangles, ranks = _triangles_and_ranks([model_values, *subjects.values()])
    raws = correlation_of_ranks(ranks[1:], ranks[0])
    raw = float(np.mean(raws))
    ceiling, lower_bound_loo = _ceiling_bounds(triangles[1:], ranks[1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        score = float(np.float64(raw) / np.float64(ceiling))
    subject_raws = {label: float(value) for label, value in zip(subjects, raws, strict=True)}
    return RsaBenchmark(raw, ceiling, lower_bound_loo, score, subject_raws)
