"""Reproducing ``Allen2022_fmri.REGION-ridge`` from the assemblies and model activations.

Loads what the benchmark scored (Brain-Score train/test assemblies, filtered to the
region's reliable neuroids, and the model activations aligned to them), scores it with
the numpy replica in :mod:`nsdval.analysis.ridge`, and compares with the reported score.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from nsdval.analysis import checks, live, peer, ridge, scoring
from nsdval.analysis.noiseceiling.formula import NC_THRESHOLD
from nsdval.data import assemblies
from nsdval.errors import InputError

SECTION = "3. Benchmark"
SPLITS = ("train", "test")
LIVE_NOTES = live.LiveNotes(
    off="Brain-Score live scoring is turned off (brainscore_live=False).",
    missing="Brain-Score is not installed in this kernel ({detail}): no live scores.",
    failed="Brain-Score ({detail}) failed: {error}",
    done="Scored live with Brain-Score's own classes ({detail}).",
)


@dataclass(frozen=True)
class RegionResponses:
    """The responses the benchmarks score for one region: its reliable neuroids, both splits.

    Attributes
    ----------
    y_train : (n_train, n_voxels) float64 array
        Train assembly, reliable neuroids of the region, images sorted by ``nsd_id``.
    test_reps : (n_repetitions, n_test, n_voxels) float64 array
        Test assembly by repetition, images sorted by ``nsd_id`` (NaN where a repetition
        is missing).
    groups : (n_voxels,) array of str
        Subject label of each kept voxel.
    train_stimuli, test_stimuli : (n_train,), (n_test,) arrays of str
        Stimulus ids of the rows of ``y_train`` and of ``test_reps``' images.
    """

    y_train: np.ndarray
    test_reps: np.ndarray
    groups: np.ndarray
    train_stimuli: np.ndarray
    test_stimuli: np.ndarray


@dataclass(frozen=True)
class BenchmarkData(RegionResponses):
    """Arrays the benchmark scores for one region: the responses and the model activations.

    Attributes
    ----------
    y_train, test_reps, groups, train_stimuli, test_stimuli
        As in :class:`RegionResponses`.
    x_train, x_test : (n_train, n_features), (n_test, n_features) float64 arrays
        Model activations, rows in the order of ``train_stimuli`` and ``test_stimuli``.
    """

    x_train: np.ndarray = None
    x_test: np.ndarray = None


def aligned_features(activations, stimulus_ids, path):
    """Rows of ``activations`` for ``stimulus_ids``, as float64.

    Raises :class:`~nsdval.errors.InputError` naming ``path`` for a stimulus it lacks.
    """
    index = pd.Index(np.asarray(activations["stimulus_id"].values).astype(str))
    positions = index.get_indexer(np.asarray(stimulus_ids).astype(str))
    if np.any(positions < 0):
        missing = np.asarray(stimulus_ids)[positions < 0][0]
        raise InputError(path, f"no activations for stimulus {missing}")
    values = activations.transpose("presentation", "neuroid").values
    return np.asarray(values, dtype=np.float64)[positions]


def region_responses(region, *, train, test, subject=None, threshold=NC_THRESHOLD):
    """The benchmark's neuroids of one region (optionally one subject), both splits.

    Parameters
    ----------
    region : str
        Brain-Score region.
    train, test : xarray.DataArray
        The Brain-Score assemblies.
    subject : str or None
        Restrict to one subject label.
    threshold : float
        Keep neuroids with ``nc_testset`` strictly above this (percent).

    Returns
    -------
    RegionResponses
    """
    keep = assemblies.neuroid_mask(train, subject=subject, region=region)
    keep &= np.asarray(train["nc_testset"].values, dtype=np.float64) > threshold
    train_block = train.isel(neuroid=np.flatnonzero(keep))
    test_block = test.isel(neuroid=np.flatnonzero(keep))
    train_order = np.argsort(np.asarray(train_block["nsd_id"].values), kind="stable")
    train_block = train_block.isel(presentation=train_order)
    test_ids, first = np.unique(np.asarray(test_block["nsd_id"].values), return_index=True)
    return RegionResponses(
        y_train=assemblies.values_2d(train_block),
        test_reps=assemblies.repetition_values(test_block, test_ids),
        groups=np.asarray(train_block["subject"].values).astype(str),
        train_stimuli=np.asarray(train_block["stimulus_id"].values).astype(str),
        test_stimuli=np.asarray(test_block["stimulus_id"].values).astype(str)[first],
    )


def load_benchmark_data(layout, region, *, train, test, subject=None, threshold=NC_THRESHOLD):
    """Collect the benchmark's inputs for one region (optionally one subject).

    Parameters
    ----------
    layout : NsdLayout
        The tree.
    region : str
        Brain-Score region.
    train, test : xarray.DataArray
        The Brain-Score assemblies.
    subject : str or None
        Restrict to one subject label.
    threshold : float
        Keep neuroids with ``nc_testset`` strictly above this (percent).

    Returns
    -------
    BenchmarkData
    """
    responses = region_responses(
        region, train=train, test=test, subject=subject, threshold=threshold
    )
    features = {}
    for split, stimuli in (("train", responses.train_stimuli), ("test", responses.test_stimuli)):
        activations = assemblies.load_activations(layout, region, split)
        path = layout.activations(region, split)
        features[f"x_{split}"] = aligned_features(activations, stimuli, path)
    return BenchmarkData(**vars(responses), **features)


def score_replica(data):
    """Score every subject with the alpha-1 ridge replica; a dict label -> SubjectBenchmark."""
    return scoring.score_subjects(
        data.x_train, data.x_test, data.y_train, data.test_reps, data.groups
    )


def score_ridgecv(data):
    """The seed's standalone RidgeCV per subject: dict label -> (median r, chosen alpha)."""
    model = ridge.GramRidge(data.x_train, data.x_test)
    target = data.test_reps.mean(axis=0)
    out = {}
    for label in np.unique(data.groups):
        cols = data.groups == label
        prediction, alpha = model.predict_cv(data.y_train[:, cols])
        r = ridge.pearson_columns(prediction, target[:, cols])
        out[str(label)] = (float(np.nanmedian(r)), float(alpha))
    return out


def comparison_table(reported, replica, ridgecv):
    """Per-subject table: reported vs replica raw, ceiling and score, and RidgeCV."""
    rows = []
    for label in sorted(replica):
        rep = reported.get("subjects", {}).get(label, {})
        sb = replica[label]
        cv_r, cv_alpha = ridgecv.get(label, (np.nan, np.nan))
        rows.append(
            {
                "subject": label,
                "voxels": sb.n_voxels,
                "reported raw": rep.get("raw", np.nan),
                "replica raw": sb.raw,
                "RidgeCV raw": cv_r,
                "RidgeCV alpha": cv_alpha,
                "reported ceiling": rep.get("ceiling", np.nan),
                "replica ceiling": sb.ceiling,
                "reported score": rep.get("score", np.nan),
                "replica score": sb.score,
            }
        )
    return pd.DataFrame(rows).set_index("subject")


def score_with_brainscore(layout, region, *, train, test, enabled=True):
    """Score the same inputs with Brain-Score's own classes, when Brain-Score is installed.

    Parameters
    ----------
    layout : NsdLayout
        The tree (for the activations).
    region : str
    train, test : xarray.DataArray
        Brain-Score assemblies, or one subject's block of them.
    enabled : bool
        ``False`` skips Brain-Score even when it is installed.

    Returns
    -------
    record : dict or None
        ``score.json``-shaped numbers from :func:`nsdval.analysis.peer.score_region`; None when
        Brain-Score is not used. When Brain-Score fails on these files, ``subjects`` is
        empty and ``error`` says why.
    note : str
        One line for the report: what was used, or why not.
    """
    return live.live_record(
        lambda: tuple(assemblies.load_activations(layout, region, s) for s in SPLITS),
        lambda activations: peer.score_region(train, test, activations, region=region),
        enabled=enabled,
        notes=LIVE_NOTES,
    )


def side_by_side(reported, replica, live):
    """Per subject and number: reported, nsdval replica and Brain-Score live (if any).

    Returns
    -------
    pandas.DataFrame
        Index (subject, number) with number in raw, ceiling, score; the Brain-Score column
        only when ``live`` is a record.
    """
    rows = []
    for label in sorted(replica):
        for key in ("raw", "ceiling", "score"):
            row = {"subject": label, "number": key}
            row["reported"] = reported.get("subjects", {}).get(label, {}).get(key, np.nan)
            row["nsdval replica"] = getattr(replica[label], key)
            if live is not None:
                row["Brain-Score live"] = live["subjects"].get(label, {}).get(key, np.nan)
            rows.append(row)
    return pd.DataFrame(rows).set_index(["subject", "number"])


def brainscore_checks(replica, live, *, tolerance):
    """Checks holding the replica to Brain-Score's live numbers; none without them.

    A subject Brain-Score did not score compares with NaN and fails; when Brain-Score
    raised, one failing ``brainscore-live`` check carries its error.
    """
    if live is None:
        return []
    if live.get("error"):
        detail = f"Brain-Score could not score these files: {live['error']}"
        return [checks.CheckResult(SECTION, "brainscore-live", "fail", None, None, detail)]
    results = []
    for label in sorted(replica):
        theirs = live["subjects"].get(label, {})
        for key in ("raw", "ceiling", "score"):
            result = compare_with_reported(
                f"brainscore-{key}",
                getattr(replica[label], key),
                theirs.get(key, np.nan),
                tolerance=tolerance,
                subject=label,
            )
            detail = result.detail.replace("vs reported", "vs Brain-Score")
            results.append(replace(result, detail=detail))
    return results


def replica_checks(reported, replica, *, tolerance):
    """Checks comparing the replica with the reported per-subject raw, ceiling and score.

    The seed's standalone RidgeCV is a different estimator (alpha chosen by leave-one-out),
    so it is shown beside these numbers for context but is not held to them.
    """
    results = []
    for label in sorted(replica):
        rep = reported.get("subjects", {}).get(label)
        sb = replica[label]
        for key in ("raw", "ceiling", "score"):
            results.append(_reported_check(rep, key, getattr(sb, key), label, tolerance))
    return results


def _reported_check(rep, key, value, label, tolerance):
    name = f"replica-{key}"
    if rep is None or key not in rep:
        detail = f"score.json reports no {key} for {label}"
        return checks.CheckResult(SECTION, name, "fail", value, tolerance, detail, subject=label)
    return compare_with_reported(name, value, rep[key], tolerance=tolerance, subject=label)


def compare_with_reported(name, value, reported, *, tolerance, section=SECTION, **scope):
    """Hold a replica number against the reported one; ``scope`` is subject= or region=."""
    value, reported = float(value), float(reported)
    diff = abs(value - reported)
    ok = bool(np.isfinite(diff) and diff <= tolerance)
    detail = f"replica {value:.6f} vs reported {reported:.6f} (|diff| {diff:.1e})"
    return checks.CheckResult(
        section, name, checks.status_for(ok), diff, tolerance, detail, **scope
    )


def summary_checks(reported, summary, *, tolerance, region, section=SECTION):
    """Region-level checks: final score, mean raw and overall ceiling vs score.json."""
    return [
        compare_with_reported(
            f"region-{key}",
            summary[key],
            reported[key],
            tolerance=tolerance,
            section=section,
            region=region,
        )
        for key in ("score", "raw", "ceiling")
    ]


def region_summary(layout, region, *, train, test):
    """Replica of the whole region's benchmark next to the reported score.

    Returns
    -------
    reported : dict
        The region's score.json.
    replica : dict
        ``score``, ``raw`` and ``ceiling`` recomputed over all subjects.
    subjects : dict
        Subject label -> :class:`~nsdval.analysis.scoring.SubjectBenchmark`.
    """
    data = load_benchmark_data(layout, region, train=train, test=test)
    subjects = score_replica(data)
    summary = scoring.benchmark_summary(subjects, data.test_reps)
    reported = assemblies.load_score(layout.score(region))
    return reported, {key: float(summary[key]) for key in ("score", "raw", "ceiling")}, subjects


def subject_record(reported, replica, ridgecv, live=None):
    """JSON-ready per-subject numbers for the report sidecar and the index.

    ``live`` is the record of :func:`score_with_brainscore`; its subject's numbers are kept
    under ``brainscore`` when Brain-Score scored.
    """
    out = {}
    for label, sb in replica.items():
        rep = reported.get("subjects", {}).get(label, {})
        cv_r, cv_alpha = ridgecv.get(label, (None, None))
        out[label] = {
            "reported": {k: rep.get(k) for k in ("raw", "ceiling", "score")},
            "replica": {"raw": sb.raw, "ceiling": sb.ceiling, "score": sb.score},
            "ridgecv": {"raw": cv_r, "alpha": cv_alpha},
            "n_voxels": sb.n_voxels,
        }
        if live is not None and label in live["subjects"]:
            out[label]["brainscore"] = dict(live["subjects"][label])
    return out


def region_table(summaries):
    """Reported vs replica score, raw and ceiling per region, as a DataFrame."""
    rows = {}
    for region, (reported, replica, _) in summaries.items():
        row = {}
        for key in ("score", "raw", "ceiling"):
            row[f"reported {key}"] = float(reported[key])
            row[f"replica {key}"] = replica[key]
        rows[region] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def region_records(summaries):
    """JSON-ready region summaries for the layout sidecar and the index."""
    return {
        region: {
            "benchmark": reported.get("benchmark"),
            "model": reported.get("model"),
            "reported": {k: float(reported[k]) for k in ("score", "raw", "ceiling")},
            "replica": replica,
        }
        for region, (reported, replica, _) in summaries.items()
    }


def subject_raw_table(summaries):
    """Replica raw score per subject (rows) and region (columns)."""
    return pd.DataFrame(
        {
            region: {label: sb.raw for label, sb in subjects.items()}
            for region, (_, _, subjects) in summaries.items()
        }
    ).sort_index()
