"""Checks of the ``REGION-rdm`` report: the replica against the reported and live numbers.

``rdm-unique-images``: the train and test images the benchmark concatenates are distinct
(a leaky split repeats an image in the RDM; the numbers are still reproduced, repeats kept).

Reported (``score_rdm.json``) vs replica, tolerance absolute:

- ``rdm-raw``, ``rdm-ceiling``, ``rdm-lower-bound-loo``, ``rdm-score`` (region scope) and
  ``rdm-subject-raw`` (one per subject): a number missing from ``score_rdm.json``, or a
  subject it reports that the assemblies do not hold, fails;
- ``rdm-score-rule``: the reported score equals the reported raw / ceiling (no square).

The same numbers against Brain-Score live: ``rdm-brainscore-raw``, ``-ceiling``,
``-lower-bound-loo``, ``-score`` and ``rdm-brainscore-subject-raw``; one failing
``rdm-brainscore-live`` when Brain-Score raised on the files. Without ``score_rdm.json`` or
without Brain-Score there are no such checks (the report says why). NaN equals NaN: one
subject has no leave-one-out bound, in Brain-Score too.

What each plausible mistake fails, the others passing:

- the ceiling taken from the leave-one-out bound: ``rdm-ceiling`` (its detail says so) and
  ``rdm-score``;
- the score squared (raw² / ceiling): ``rdm-score`` and ``rdm-score-rule``;
- test repetitions not averaged, or subjects pooled into one RDM: ``rdm-raw`` and
  ``rdm-subject-raw``, with ``rdm-ceiling`` too when the ceiling was computed alike.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from nsdval.analysis import benchmark, checks
from nsdval.analysis.rdm_benchmark import NUMBERS

SECTION = "1. RDM benchmark"
REPORTED_FILE = "score_rdm.json"


def _name(prefix, key):
    return f"{prefix}-{key.replace('_', '-')}"


def _compare(name, key, value, other, *, tolerance, versus, **scope):
    """``value`` (the replica's ``key``) against ``other``; NaN in both counts as equal."""
    if other is None:
        detail = f"{versus} reports no {key}"
        return checks.CheckResult(SECTION, name, "fail", None, tolerance, detail, **scope)
    if np.isnan(float(value)) and np.isnan(float(other)):
        detail = f"replica NaN vs {versus} NaN"
        return checks.CheckResult(SECTION, name, "pass", 0.0, tolerance, detail, **scope)
    result = benchmark.compare_with_reported(
        name, value, other, tolerance=tolerance, section=SECTION, **scope
    )
    return replace(result, detail=result.detail.replace("vs reported", f"vs {versus}"))


def image_check(stimulus_ids, *, region):
    """``rdm-unique-images``: every image of the benchmark once (train and test disjoint).

    Examples
    --------
    >>> image_check(np.array(["a", "b", "b"]), region="V4").detail
    '1 of 3 images repeated (e.g. b): train and test share images'
    """
    ids = np.sort(np.asarray(stimulus_ids).astype(str))
    repeated = np.unique(ids[1:][ids[1:] == ids[:-1]])
    if repeated.size:
        detail = (
            f"{repeated.size} of {ids.size} images repeated (e.g. {repeated[0]}): "
            "train and test share images"
        )
        status = "fail"
    else:
        detail, status = f"{ids.size} distinct images (train + test)", "pass"
    return checks.CheckResult(
        SECTION, "rdm-unique-images", status, int(repeated.size), 0, detail, region=region
    )


def number_checks(theirs, replica, *, prefix, versus, region, tolerance):
    """The region's four numbers and each subject's raw, ``replica`` against ``theirs``.

    Parameters
    ----------
    theirs : dict
        ``score_rdm.json``-shaped numbers (reported, or Brain-Score's live record).
    replica : nsdval.analysis.rsa.RsaBenchmark
    prefix : str
        Check name prefix: ``rdm`` (reported) or ``rdm-brainscore`` (live).
    versus : str
        Who ``theirs`` are, for the details (``score_rdm.json``, ``Brain-Score``).
    region : str
    tolerance : float

    Returns
    -------
    list of CheckResult
        Four region checks, then one ``{prefix}-subject-raw`` per subject of either side.
    """
    compare = {"tolerance": tolerance, "versus": versus}
    results = [
        _compare(
            _name(prefix, key),
            key,
            getattr(replica, key),
            theirs.get(key),
            region=region,
            **compare,
        )
        for key in NUMBERS
    ]
    subjects = theirs.get("subjects") or {}
    name = f"{prefix}-subject-raw"
    for label in sorted(set(replica.subject_raws) | set(subjects)):
        scope = {"subject": label, "region": region}
        if label in replica.subject_raws:
            other = (subjects.get(label) or {}).get("raw")
            value = replica.subject_raws[label]
            results.append(_compare(name, "raw", value, other, **compare, **scope))
        else:
            detail = f"{versus} reports {label}: no {region} neuroid of it has nc_testset > 30"
            results.append(
                checks.CheckResult(SECTION, name, "fail", None, tolerance, detail, **scope)
            )
    return results


def score_rule_check(reported, *, region, tolerance):
    """``rdm-score-rule``: the reported score is the reported raw / ceiling, not squared."""
    name = "rdm-score-rule"
    if any(reported.get(key) is None for key in ("score", "raw", "ceiling")):
        detail = f"{REPORTED_FILE} lacks score, raw or ceiling"
        return checks.CheckResult(SECTION, name, "fail", None, tolerance, detail, region=region)
    score, raw, ceiling = (float(reported[key]) for key in ("score", "raw", "ceiling"))
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = float(np.float64(raw) / np.float64(ceiling))
        squared = float(np.float64(raw) ** 2 / np.float64(ceiling))
    diff = abs(score - expected)
    ok = bool(diff <= tolerance) or (np.isnan(score) and np.isnan(expected))
    detail = (
        f"reported score {score:.6f} vs reported raw / ceiling {expected:.6f} (|diff| {diff:.1e})"
    )
    if not ok and abs(score - squared) <= tolerance:
        detail += "; it equals raw² / ceiling, the ridge benchmark's rule"
    status = checks.status_for(ok)
    return checks.CheckResult(SECTION, name, status, diff, tolerance, detail, region=region)


def replica_checks(reported, replica, *, region, tolerance):
    """Reported (``score_rdm.json``) vs replica; none when there is no reported score."""
    if reported is None:
        return []
    results = number_checks(
        reported,
        replica,
        prefix="rdm",
        versus=REPORTED_FILE,
        region=region,
        tolerance=tolerance,
    )
    results = [_with_hint(result, reported, replica, tolerance) for result in results]
    return [*results, score_rule_check(reported, region=region, tolerance=tolerance)]


def _with_hint(result, reported, replica, tolerance):
    """Name the likely mistake when the reported ceiling is the leave-one-out bound."""
    bound = replica.lower_bound_loo
    if result.name != "rdm-ceiling" or result.status == "pass" or reported.get("ceiling") is None:
        return result
    if abs(float(reported["ceiling"]) - bound) <= tolerance:
        hint = "; it equals the replica's leave-one-out bound, not the upper bound"
        return replace(result, detail=result.detail + hint)
    return result


def live_checks(live, replica, *, region, tolerance):
    """Brain-Score live vs replica; none without a live record, one failure if it raised."""
    if live is None:
        return []
    if live.get("error"):
        detail = f"Brain-Score could not score these files: {live['error']}"
        return [
            checks.CheckResult(
                SECTION, "rdm-brainscore-live", "fail", None, None, detail, region=region
            )
        ]
    return number_checks(
        live,
        replica,
        prefix="rdm-brainscore",
        versus="Brain-Score",
        region=region,
        tolerance=tolerance,
    )
