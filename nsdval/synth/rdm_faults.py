"""The known wrong ways to compute the ``-rdm`` benchmark, planted in ``score_rdm.json``.

Each fault changes only what the volume 8-subject ``benchmark/REGION/score_rdm.json``
reports, in every region; the assemblies, activations, ``score.json`` and every other file
stay those of the clean tree. :func:`score_rdm` is the one hook: with ``fault=None`` (or a
fault that is not in :data:`RDM_FAULTS`) it returns the clean scores,
:func:`nsdval.synth.rsa_scoring.score_region_rdm`.

- ``rdm-ceiling-loo``: ceiling = the leave-one-out lower bound, score = raw / that bound;
  raw, the bound and the subjects' raw as computed.
- ``rdm-score-squared``: score = raw ** 2 / ceiling (the ridge benchmark's formula); raw,
  ceiling and the bound as computed.
- ``rdm-repetitions-not-averaged``: the test repetitions are not averaged: every repetition
  is an RDM row of its own (train images plus every test repetition, sorted by stimulus_id,
  ties in stored order), the model's row of that image repeated (two rows of one image are
  at distance 0); raw, ceiling, bound and score are all computed on those rows.
- ``rdm-subjects-pooled``: the subjects are pooled: one RDM of all subjects' neuroids
  together, scored as one subject: raw (and each subject's raw) = Spearman(model RDM, pooled
  RDM), ceiling = 1 (one subject against the mean of itself), score = raw / 1. The
  leave-one-out bound, which needs two subjects, is reported as computed per subject.
"""

from __future__ import annotations

from nsdval.synth.rsa_scoring import (
    rdm_triangle,
    region_inputs,
    rsa_report,
    score_region_rdm,
    spearman,
    subject_triangles,
)

RDM_FAULTS = {
    "rdm-ceiling-loo": "score_rdm.json (volume, every region): the ceiling is the "
    "leave-one-out lower bound (score = raw / bound)",
    "rdm-score-squared": "score_rdm.json (volume, every region): score = raw^2 / ceiling, as "
    "the ridge benchmark",
    "rdm-repetitions-not-averaged": "score_rdm.json (volume, every region): each test "
    "repetition its own RDM row (the model's row repeated), not the repetitions' mean",
    "rdm-subjects-pooled": "score_rdm.json (volume, every region): one RDM of all subjects' "
    "neuroids pooled: raw = one Spearman, ceiling 1",
}


def averages_repetitions(fault):
    """Return whether the test repetitions are averaged (not on ``rdm-repetitions-not-averaged``).

    Examples
    --------
    >>> averages_repetitions(None), averages_repetitions("rdm-repetitions-not-averaged")
    (True, False)
    """
    return fault != "rdm-repetitions-not-averaged"


def score_rdm(train, test, activations, region, fault=None):
    """Return what ``score_rdm.json`` reports for one region: clean, or the fault's way.

    Parameters
    ----------
    train, test : xarray.DataArray
        Brain-Score assemblies (presentation, neuroid, time_bin) as packaged.
    activations : tuple of xarray.DataArray
        Train and test model activations.
    region : str
        Region name.
    fault : str or None
        Active fault; only those of :data:`RDM_FAULTS` act.

    Returns
    -------
    dict
        ``score``, ``raw``, ``ceiling``, ``lower_bound_loo`` and per-subject ``raw``.
    """
    if fault not in RDM_FAULTS:
        return score_region_rdm(train, test, activations, region)
    averaged = averages_repetitions(fault)
    inputs = region_inputs(train, test, activations, region, averaged=averaged)
    report = rsa_report(inputs.model, subject_triangles(inputs))
    if fault == "rdm-ceiling-loo":
        report["ceiling"] = report["lower_bound_loo"]
        report["score"] = report["raw"] / report["ceiling"]
    elif fault == "rdm-score-squared":
        report["score"] = report["raw"] ** 2 / report["ceiling"]
    elif fault == "rdm-subjects-pooled":
        report = pooled(report, spearman(inputs.model, rdm_triangle(inputs.values)))
    return report


def pooled(report, raw):
    """Return ``report`` as scored on one pooled subject whose Spearman with the model is ``raw``.

    Examples
    --------
    >>> clean = {"score": 0.5, "raw": 0.3, "ceiling": 0.6, "lower_bound_loo": 0.4,
    ...          "subjects": {"subj01": {"raw": 0.2}, "subj02": {"raw": 0.4}}}
    >>> pooled(clean, 0.35)["subjects"], pooled(clean, 0.35)["score"]
    ({'subj01': {'raw': 0.35}, 'subj02': {'raw': 0.35}}, 0.35)
    """
    return {
        "score": raw / 1.0,
        "raw": raw,
        "ceiling": 1.0,
        "lower_bound_loo": report["lower_bound_loo"],
        "subjects": {label: {"raw": raw} for label in report["subjects"]},
    }
