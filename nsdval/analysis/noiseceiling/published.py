"""NSD's published noise ceiling, a dataset-level check of the surface family's ncsnr files.

NSD publishes one number for the quality of its betas: per subject, the median over the
vertices of the fsaverage ``nsdgeneral`` mask (label > 0) of the noise ceiling of 3-trial
averages, ``100 ncsnr^2 / (ncsnr^2 + 1/3)`` (:func:`.formula.noise_ceiling_percent`), read
from the subject's ``{lh,rh}.ncsnr.mgh``; averaged over the 8 subjects it is 36.20 %, with
per-subject median ncsnr 0.490, 0.510, 0.431, 0.392, 0.542, 0.439, 0.371, 0.323. A
synthetic tree carries its own expected values in its ``synth.json`` (``surface`` ->
``nsdgeneral_nc_mean`` and per subject ``nsdgeneral_nc``); a synthetic tree without them has
no expected value.

Vertices whose ncsnr is NaN (or infinite) are left out of both medians and counted in the
table: NSD's published medians are finite, so either its files hold no NaN inside
``nsdgeneral`` (as far as we know, the real files do not) or NaN was left out; counting them
keeps them visible.

The check ``nsd-published-nc`` (:func:`published_nc_check`): when every subject the expected
mean covers was measured, the mean over them of the per-subject median ceilings must equal the
expected mean to :data:`MEAN_TOLERANCE` percentage points (the published value has two
decimals). Otherwise the mean is not comparable, and each measured subject with an expected
value is compared on its own: the median ncsnr to :data:`NCSNR_TOLERANCE` (published, three
decimals), or the median ceiling to :data:`MEAN_TOLERANCE` (synthetic). Without the
``nsdgeneral`` labels (the volume space never has them), without ncsnr files or without an
expected value the check passes as not applicable, saying why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nsdval.analysis import checks
from nsdval.analysis.noiseceiling.formula import N_TEST_TRIALS, noise_ceiling_percent
from nsdval.data.layout import subject_label

SECTION = "8. NSD's published noise ceiling"
NAME = "nsd-published-nc"
PUBLISHED_MEAN = 36.20
"""NSD's mean over its 8 subjects of the median nsdgeneral noise ceiling (percent)."""
PUBLISHED_MEDIAN_NCSNR = {
    "subj01": 0.490,
    "subj02": 0.510,
    "subj03": 0.431,
    "subj04": 0.392,
    "subj05": 0.542,
    "subj06": 0.439,
    "subj07": 0.371,
    "subj08": 0.323,
}
"""NSD's per-subject median ncsnr over nsdgeneral."""
MEAN_TOLERANCE = 0.005
"""Largest difference of two ceilings (percentage points): half the published last decimal."""
NCSNR_TOLERANCE = 0.0005
"""Largest difference of a median ncsnr from its published three-decimal value."""
SYNTH_FILE = "synth.json"


@dataclass(frozen=True)
class Expectation:
    """What the measured ceilings are held against.

    Attributes
    ----------
    source : str
        Where the values come from, for messages.
    mean : float
        Expected mean over :attr:`subjects` of the median ceilings (percent).
    subjects : dict
        Subject label -> expected per-subject value, of :attr:`quantity`.
    quantity : {'median ncsnr', 'median nc %'}
        What the per-subject values are.
    tolerance : float
        Largest per-subject difference.
    decimals, subject_decimals : int
        Decimals the mean and the per-subject values are given with.
    """

    source: str
    mean: float
    subjects: dict
    quantity: str
    tolerance: float
    decimals: int
    subject_decimals: int


PUBLISHED = Expectation(
    source="NSD's published value",
    mean=PUBLISHED_MEAN,
    subjects=PUBLISHED_MEDIAN_NCSNR,
    quantity="median ncsnr",
    tolerance=NCSNR_TOLERANCE,
    decimals=2,
    subject_decimals=3,
)


@dataclass(frozen=True)
class SubjectCeiling:
    """One subject's ncsnr over ``nsdgeneral``, summarized."""

    subject: str
    vertices: int
    non_finite: int
    median_ncsnr: float
    median_nc: float


@dataclass(frozen=True)
class PublishedCeiling:
    """The measured ceilings of a tree, what they are held against, or why they cannot be.

    ``missing`` is the reason the check does not apply (``None`` when it does).
    """

    subjects: list = field(default_factory=list)
    unmeasured: list = field(default_factory=list)
    expectation: Expectation | None = None
    missing: str | None = None

    @property
    def mean(self):
        """Mean over the measured subjects of their median ceilings (percent)."""
        return float(np.mean([s.median_nc for s in self.subjects])) if self.subjects else np.nan


def subject_ceiling(subject, ncsnr, n_trials=N_TEST_TRIALS):
    """Median ncsnr and median noise ceiling (percent) of one subject's ``nsdgeneral`` ncsnr.

    Non-finite ncsnr values are left out of both medians and counted.

    Examples
    --------
    >>> c = subject_ceiling("subj01", np.array([1.0, np.nan, 0.0, 2.0]))
    >>> c.vertices, c.non_finite, c.median_ncsnr, c.median_nc
    (4, 1, 1.0, 75.0)
    """
    ncsnr = np.asarray(ncsnr, dtype=np.float64).reshape(-1)
    finite = ncsnr[np.isfinite(ncsnr)]
    if finite.size == 0:
        return SubjectCeiling(subject, ncsnr.size, ncsnr.size, np.nan, np.nan)
    nc = noise_ceiling_percent(finite, n_trials)
    return SubjectCeiling(
        subject,
        ncsnr.size,
        ncsnr.size - finite.size,
        float(np.median(finite)),
        float(np.median(nc)),
    )


def synthetic_expectation(path):
    """The expected values a synthetic tree's ``synth.json`` carries, or ``None``."""
    surface = json.loads(path.read_text()).get("surface") or {}
    if "nsdgeneral_nc_mean" not in surface:
        return None
    subjects = {
        label: float(summary["nsdgeneral_nc"])
        for label, summary in (surface.get("subjects") or {}).items()
        if "nsdgeneral_nc" in summary
    }
    return Expectation(
        source=f"the synthetic tree's {SYNTH_FILE}",
        mean=float(surface["nsdgeneral_nc_mean"]),
        subjects=subjects,
        quantity="median nc %",
        tolerance=MEAN_TOLERANCE,
        decimals=4,
        subject_decimals=4,
    )


def published_ceiling(space, subjects):
    """Measure every subject's median ``nsdgeneral`` ceiling and find what to hold it against.

    Parameters
    ----------
    space : DataSpace
        The tree's data space (:meth:`~nsdval.data.space.DataSpace.nsdgeneral_ncsnr`).
    subjects : sequence of int
        The subjects of the assemblies.

    Returns
    -------
    PublishedCeiling
    """
    missing = space.nsdgeneral_missing()
    if missing is not None:
        return PublishedCeiling(missing=missing)
    measured, unmeasured = [], []
    for subject in subjects:
        ncsnr = space.nsdgeneral_ncsnr(subject)
        if ncsnr is None:
            unmeasured.append(subject_label(subject))
        else:
            measured.append(subject_ceiling(subject_label(subject), ncsnr))
    synth = space.layout.root / SYNTH_FILE
    expectation = synthetic_expectation(synth) if synth.is_file() else PUBLISHED
    if not measured:
        missing = "no subject of the assemblies has ncsnr files"
    elif expectation is None:
        missing = f"a synthetic tree whose {SYNTH_FILE} carries no expected value"
    return PublishedCeiling(measured, unmeasured, expectation, missing)


def published_nc_check(ceiling):
    """The check ``nsd-published-nc`` of a :class:`PublishedCeiling` (rule: module docstring)."""
    if ceiling.missing is not None:
        detail = f"not applicable: {ceiling.missing}"
        return checks.condition_check(section=SECTION, name=NAME, ok=True, detail=detail)
    expected = ceiling.expectation
    measured = [s.subject for s in ceiling.subjects]
    if sorted(measured) == sorted(expected.subjects):
        return _mean_check(ceiling)
    return _subject_check(ceiling)


def _mean_check(ceiling):
    expected, mean = ceiling.expectation, ceiling.mean
    diff = abs(mean - expected.mean)
    ok = bool(diff <= MEAN_TOLERANCE)
    detail = (
        f"mean over {_measured_text(ceiling)} of the median nsdgeneral noise ceiling: "
        f"{mean:.4f} % vs {expected.mean:.{expected.decimals}f} % ({expected.source}): "
        f"|diff| {diff:.4f} {'<=' if ok else '>'} {MEAN_TOLERANCE} percentage points"
    )
    return checks.CheckResult(
        SECTION, NAME, checks.status_for(ok), round(mean, 6), expected.mean, detail
    )


def _subject_check(ceiling):
    expected = ceiling.expectation
    key = "median_ncsnr" if expected.quantity == "median ncsnr" else "median_nc"
    compared = [s for s in ceiling.subjects if s.subject in expected.subjects]
    detail = (
        f"{_measured_text(ceiling)} measured, not the {len(expected.subjects)} subjects of "
        f"{expected.source}: their mean ({ceiling.mean:.4f} %) is not comparable with "
        f"{expected.mean:.{expected.decimals}f} %"
    )
    if not compared:
        detail = f"not applicable: {detail}, and none of them has an expected value"
        return checks.condition_check(section=SECTION, name=NAME, ok=True, detail=detail)
    parts, bad = [], 0
    for s in compared:
        value, wanted = getattr(s, key), expected.subjects[s.subject]
        ok = bool(abs(value - wanted) <= expected.tolerance)
        bad += not ok
        wanted_text = f"{wanted:.{expected.subject_decimals}f}"
        parts.append(f"{s.subject} {value:.4f} vs {wanted_text}" + ("" if ok else " (differs)"))
    detail += (
        f"; per subject, {expected.quantity} within {expected.tolerance}: "
        f"{len(compared) - bad} of {len(compared)} match ({', '.join(parts)})"
    )
    return checks.CheckResult(SECTION, NAME, checks.status_for(bad == 0), bad, 0, detail)


def _measured_text(ceiling):
    """``2 subjects (subj01, subj02; no ncsnr files: subj03)``."""
    names = ", ".join(s.subject for s in ceiling.subjects)
    if ceiling.unmeasured:
        names += f"; no ncsnr files: {', '.join(ceiling.unmeasured)}"
    n = len(ceiling.subjects)
    return f"{n} subject{'' if n == 1 else 's'} ({names})"


def subject_table(ceiling):
    """One row per measured subject: vertices, non-finite ncsnr, medians, expected value."""
    expected = ceiling.expectation
    column = f"expected {expected.quantity}" if expected else "expected"
    rows = {
        s.subject: {
            "vertices": s.vertices,
            "NaN/Inf ncsnr": s.non_finite,
            "median ncsnr": s.median_ncsnr,
            "median nc %": s.median_nc,
            column: expected.subjects.get(s.subject, np.nan) if expected else np.nan,
        }
        for s in ceiling.subjects
    }
    columns = ["vertices", "NaN/Inf ncsnr", "median ncsnr", "median nc %", column]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)
