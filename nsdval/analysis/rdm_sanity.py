"""Sanity of the assemblies' RDMs, no model needed: subjects agree, regions form a gradient.

Both read the neuroids and images the ``-rdm`` benchmark scores
(:func:`nsdval.analysis.rdm_benchmark.subject_values`), and compare RDM upper triangles by
their Spearman correlation (:mod:`nsdval.analysis.rsa`). Their bounds are soft: a failed
bound is a warning, for a reader to look at, not a wrong number.

Inter-subject consistency of one region (:func:`consistency`):

- ``rdm-subject-consistency`` (region): the mean Spearman correlation over all pairs of
  subjects' RDMs. Below :data:`CONSISTENCY_FLOOR` the region's subjects hardly share an RDM,
  so a model's raw score and the ceiling compare little more than noise.
- ``rdm-subject-outlier`` (one per subject, with at least :data:`MIN_SUBJECTS_FOR_OUTLIERS`
  subjects): Spearman(subject's RDM, mean RDM of the other subjects), the subject's part of
  the ceiling's leave-one-out bound, must reach :data:`OUTLIER_FRACTION` of the median of
  the other subjects' such correlations. A subject whose images were shuffled or mislabelled
  falls to about 0. With two subjects each one's correlation is the one pairwise correlation:
  there is no outlier to tell.

Region gradient (:func:`region_similarity`, :func:`gradient_check`): the subject-mean RDMs of
V1, V2, V4 and IT, compared pairwise. Along the ventral stream neighbours should be more alike
than the two ends: ``rdm-region-gradient`` warns when a neighbouring pair that includes the
report's region (V1-V2, V2-V4, V4-IT) is less alike than V1-IT. Each region's report reads
the other regions' neuroids from the same Brain-Score assemblies (already in memory) and
shows the whole matrix, but checks only its own pairs, so every pair is checked in the
reports of both its regions. The comparison is not corrected for noise: a region with more
reliable neuroids has a less noisy mean RDM, which is more alike every other region's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nsdval.analysis import benchmark, checks, rdm_benchmark, rsa
from nsdval.analysis.noiseceiling.formula import NC_THRESHOLD
from nsdval.data.layout import REGIONS

SECTION = "2. RDM sanity"
CONSISTENCY_FLOOR = 0.1
"""Least mean inter-subject Spearman correlation of a region's RDMs (soft)."""
OUTLIER_FRACTION = 0.5
"""A subject's leave-one-out correlation below this fraction of the others' median warns."""
MIN_SUBJECTS_FOR_OUTLIERS = 3
NEIGHBOURS = (("V1", "V2"), ("V2", "V4"), ("V4", "IT"))
DISTANT = ("V1", "IT")


@dataclass(frozen=True)
class Consistency:
    """How alike one region's subjects' RDMs are.

    Attributes
    ----------
    labels : tuple of str
        Subjects, sorted.
    pairwise : (n_subjects, n_subjects) float array
        Spearman correlation of every two subjects' RDM upper triangles (1 on the diagonal).
    loo : (n_subjects,) float array
        Spearman(subject's triangle, mean triangle of the other subjects); NaN for one subject.
    """

    labels: tuple
    pairwise: np.ndarray
    loo: np.ndarray

    @property
    def mean_pairwise(self):
        """Mean over the pairs of subjects; NaN for one subject."""
        upper = rsa.upper_triangle(self.pairwise)
        return float(np.mean(upper)) if upper.size else float("nan")


def triangles(subjects):
    """Each subject's RDM upper triangle, one row per subject (labels sorted).

    Parameters
    ----------
    subjects : dict
        Label -> (n_images, n_units) array, images in the same order for all.

    Returns
    -------
    labels : tuple of str
    triangles : (n_subjects, n_pairs) float64 array
    """
    labels = tuple(sorted(subjects))
    return labels, np.stack([rsa.rdm_upper_triangle(subjects[label]) for label in labels])


def consistency(subjects):
    """Inter-subject consistency of one region's RDMs.

    Parameters
    ----------
    subjects : dict
        Label -> (n_images, n_units) array, images in the same order for all.

    Returns
    -------
    Consistency

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> shared = rng.normal(size=(8, 30))
    >>> result = consistency({"a": shared, "b": 2 * shared, "c": shared + 1})
    >>> round(result.mean_pairwise, 12), result.loo.round(12).tolist()
    (1.0, [1.0, 1.0, 1.0])
    """
    labels, tri = triangles(subjects)
    ranks = np.stack([rsa.spearman_ranks(row) for row in tri])
    pairwise = rsa.correlation_of_ranks(ranks[:, None, :], ranks[None, :, :])
    loo = np.full(len(labels), np.nan)
    if len(labels) > 1:
        for i in range(len(labels)):
            others = rsa.spearman_ranks(np.delete(tri, i, axis=0).mean(axis=0))
            loo[i] = rsa.correlation_of_ranks(ranks[i], others)
    return Consistency(labels, pairwise, loo)


def outlier_bounds(loo):
    """Each subject's bound: :data:`OUTLIER_FRACTION` x the median of the others' ``loo``.

    NaN for every subject when there are fewer than :data:`MIN_SUBJECTS_FOR_OUTLIERS`.

    Examples
    --------
    >>> outlier_bounds(np.array([0.6, 0.5, 0.1])).round(3).tolist()
    [0.15, 0.175, 0.275]
    """
    loo = np.asarray(loo, dtype=np.float64)
    if loo.size < MIN_SUBJECTS_FOR_OUTLIERS:
        return np.full(loo.size, np.nan)
    return np.array([OUTLIER_FRACTION * np.median(np.delete(loo, i)) for i in range(loo.size)])


def consistency_table(result):
    """Per subject: mean correlation with each other subject, with the others' mean, bound."""
    n = len(result.labels)
    off_diagonal = ~np.eye(n, dtype=bool)
    with np.errstate(invalid="ignore"):
        mean_with_others = np.where(off_diagonal, result.pairwise, 0.0).sum(axis=1) / (n - 1)
    return pd.DataFrame(
        {
            "mean with each other subject": mean_with_others if n > 1 else [np.nan],
            "with the others' mean RDM": result.loo,
            "outlier bound": outlier_bounds(result.loo),
        },
        index=pd.Index(result.labels, name="subject"),
    )


def consistency_checks(result, *, region):
    """``rdm-subject-consistency``, then ``rdm-subject-outlier`` per subject (warnings)."""
    mean = result.mean_pairwise
    ok = bool(mean >= CONSISTENCY_FLOOR)
    n = len(result.labels)
    pairs = n * (n - 1) // 2
    detail = (
        f"mean Spearman over the {pairs} {'pair' if pairs == 1 else 'pairs'} of subjects' "
        f"RDMs {mean:.3f}, floor {CONSISTENCY_FLOOR}"
    )
    if n < 2:
        detail = "one subject: no inter-subject consistency to measure"
    found = [
        checks.CheckResult(
            SECTION,
            "rdm-subject-consistency",
            checks.status_for(ok, warn=True),
            mean,
            CONSISTENCY_FLOOR,
            detail,
            region=region,
        )
    ]
    for label, loo, bound in zip(
        result.labels, result.loo, outlier_bounds(result.loo), strict=True
    ):
        if np.isnan(bound):
            continue
        ok = bool(loo >= bound)
        detail = (
            f"Spearman with the other subjects' mean RDM {loo:.3f}, bound {bound:.3f} "
            f"({OUTLIER_FRACTION} x the others' median)"
        )
        found.append(
            checks.CheckResult(
                SECTION,
                "rdm-subject-outlier",
                checks.status_for(ok, warn=True),
                loo,
                bound,
                detail,
                subject=label,
                region=region,
            )
        )
    return found


def region_mean_triangles(train, test, *, regions=REGIONS, threshold=NC_THRESHOLD):
    """Each region's subject-mean RDM upper triangle, on the benchmark's neuroids and images.

    Parameters
    ----------
    train, test : xarray.DataArray
        The Brain-Score assemblies (every region).
    regions : sequence of str
    threshold : float

    Returns
    -------
    dict
        Region -> (n_pairs,) float64 array; a region without a reliable neuroid is left out.
    """
    means = {}
    for region in regions:
        responses = benchmark.region_responses(region, train=train, test=test, threshold=threshold)
        if responses.groups.size:
            _, subjects = rdm_benchmark.subject_values(responses, dtype=test.dtype)
            means[region] = triangles(subjects)[1].mean(axis=0)
    return means


def region_similarity(mean_triangles):
    """Spearman correlation of every two regions' subject-mean RDMs, as a DataFrame."""
    names = list(mean_triangles)
    ranks = np.stack([rsa.spearman_ranks(mean_triangles[name]) for name in names])
    values = rsa.correlation_of_ranks(ranks[:, None, :], ranks[None, :, :])
    return pd.DataFrame(values, index=names, columns=names)


def gradient_check(similarity, *, region):
    """``rdm-region-gradient``: the region's neighbouring pairs more alike than V1-IT (warning).

    Parameters
    ----------
    similarity : pandas.DataFrame
        :func:`region_similarity` of the four regions.
    region : str
        The report's region; its neighbouring pairs are checked.
    """
    pairs = [pair for pair in NEIGHBOURS if region in pair]
    needed = sorted({name for pair in (*pairs, DISTANT) for name in pair})
    missing = [name for name in needed if name not in similarity.index]
    name = "rdm-region-gradient"
    if missing or not pairs:
        detail = f"cannot compare: no neuroid of {', '.join(missing)} with nc_testset > 30"
        if not pairs:
            detail = f"{region} is not on the V1-V2-V4-IT stream"
        return checks.CheckResult(SECTION, name, "warn", None, None, detail, region=region)
    distant = float(similarity.loc[DISTANT])
    values = {f"{a}-{b}": float(similarity.loc[a, b]) for a, b in pairs}
    weaker = [pair for pair, value in values.items() if not value > distant]
    shown = ", ".join(f"{pair} {value:.3f}" for pair, value in values.items())
    detail = f"{shown} vs {'-'.join(DISTANT)} {distant:.3f}"
    if weaker:
        detail += f": {', '.join(weaker)} no more alike than the stream's two ends"
    status = checks.status_for(not weaker, warn=True)
    return checks.CheckResult(
        SECTION, name, status, min(values.values()), distant, detail, region=region
    )


def square(triangle, n_images):
    """The symmetric (n, n) RDM of an upper triangle (``k = 1``), zero on the diagonal."""
    matrix = np.zeros((n_images, n_images))
    rows, cols = np.triu_indices(n_images, k=1)
    matrix[rows, cols] = triangle
    matrix[cols, rows] = triangle
    return matrix
