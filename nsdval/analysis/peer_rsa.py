"""Brain-Score's own ``-rdm`` benchmark classes, run on the files nsdval validates.

With Brain-Score installed (optional, imported only when a function here is called),
:func:`score_region` scores ``Allen2022_fmri[_4subj|_surface|_surface_4subj].REGION-rdm``
with Brain-Score's ``RSABenchmark`` (its ``RDM`` and ``RDMSimilarity``) and ``RSACeiling``,
so that nsdval's replica (:mod:`nsdval.analysis.rsa`) can be held against them live.

``brainscore_vision.benchmarks.allen2022_fmri.benchmark.Allen2022fmriRSA(region,
dataset_prefix)`` cannot be called here: importing that module evaluates
``load_metric('internal_consistency')`` (a default argument), which may pip-install plugin
requirements, and its assembly comes from ``load_dataset`` by identifier (a download). The
objects it builds are built here instead, from the DataArrays nsdval loaded:

- the assembly, as ``load_full_assembly`` makes it: each split through ``load_assembly``'s
  steps (:func:`nsdval.analysis.peer.load_split`: ``nc_testset > 30``, the region, time
  bin 0, ``average_repetition``, for train too), concatenated along ``presentation`` as
  ``type(train)(xr.concat([train, test]))``, the two StimulusSets concatenated under the
  identifier ``{dataset_prefix}_train--full``;
- ``RSABenchmark(identifier=f'{dataset_prefix}.{region}-rdm', version=1, region=region,
  visual_degrees=8.4, number_of_trials=1)`` with that assembly, and the ceiler that
  ``RSABenchmark`` would get from ``load_metric('rsa_ceiling')``: ``RSACeiling()``, built
  directly (``load_metric`` may install plugin requirements). ``RDM()`` and
  ``RDMSimilarity()`` are ``RSABenchmark``'s own defaults. The BibTeX is left out: it is
  not used to score.

The ceiling is computed once and kept in memory (as for the ridge benchmark), never cached
on disk under the benchmark identifier.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from nsdval.analysis import peer
from nsdval.analysis.noiseceiling.formula import NC_THRESHOLD

VERSION = 1
NUMBER_OF_TRIALS = 1


def _rsa_classes():
    """Brain-Score's RSA benchmark and ceiling classes (after :func:`peer.require_brainscore`)."""
    bs = peer.require_brainscore()
    from brainscore_vision.metrics.rsa_ceiling.ceiling import RSACeiling

    return bs.neural_common.RSABenchmark, RSACeiling, bs.StimulusSet


def full_assembly(train, test, *, region, dataset_prefix, threshold=NC_THRESHOLD):
    """``load_full_assembly``: train and repetition-averaged test images of one region.

    Parameters
    ----------
    train, test : xarray.DataArray
        Brain-Score assemblies (presentation, neuroid, time_bin) as loaded from netCDF.
    region : str
    dataset_prefix : str
        E.g. ``Allen2022_fmri`` or ``Allen2022_fmri_surface_4subj``.
    threshold : float
        ``nc_testset`` threshold in percent.

    Returns
    -------
    NeuroidAssembly
        (presentation, neuroid), its StimulusSet attached.
    """
    _, _, stimulus_set = _rsa_classes()
    parts = [
        peer.load_split(
            array,
            region=region,
            average_repetitions=True,
            threshold=threshold,
            identifier=f"{dataset_prefix}_{split}",
        )
        for split, array in (("train", train), ("test", test))
    ]
    combined = type(parts[0])(xr.concat(parts, dim="presentation"))
    stimuli = stimulus_set(pd.concat([p.stimulus_set for p in parts], ignore_index=True))
    stimuli.stimulus_paths = {
        stimulus: path for p in parts for stimulus, path in p.stimulus_set.stimulus_paths.items()
    }
    stimuli.identifier = f"{dataset_prefix}_train--full"
    combined.attrs["stimulus_set"] = stimuli
    return combined


def build_rsa_benchmark(train, test, *, region, dataset_prefix, threshold=NC_THRESHOLD):
    """The ``RSABenchmark`` object ``Allen2022fmriRSA(region, dataset_prefix)`` builds.

    Parameters
    ----------
    train, test : xarray.DataArray
        Brain-Score assemblies as loaded from netCDF.
    region : str
    dataset_prefix : str
    threshold : float

    Returns
    -------
    brainscore_vision.benchmark_helpers.neural_common.RSABenchmark
    """
    rsa_benchmark, rsa_ceiling, _ = _rsa_classes()
    assembly = full_assembly(
        train, test, region=region, dataset_prefix=dataset_prefix, threshold=threshold
    )
    benchmark = rsa_benchmark(
        identifier=f"{dataset_prefix}.{region}-rdm",
        version=VERSION,
        assembly=assembly,
        region=region,
        visual_degrees=peer.VISUAL_DEGREES,
        number_of_trials=NUMBER_OF_TRIALS,
        bibtex=None,
        ceiler=rsa_ceiling(),
    )
    benchmark._ceiling = peer.memoized(benchmark._ceiling_func)  # in memory, never on disk
    return benchmark


def rsa_record(score, subjects):
    """An ``RSABenchmark`` Score as ``score_rdm.json``'s dict.

    Parameters
    ----------
    score : Score
        What ``RSABenchmark.__call__`` returns: the score, with ``raw`` (its
        ``subject_scores`` in ``subjects``' order) and ``ceiling`` (its ``lower_bound_loo``).
    subjects : sequence of str
        The subject labels in the order ``RSABenchmark`` scored them (``np.unique``).

    Returns
    -------
    dict
        ``score``, ``raw``, ``ceiling``, ``lower_bound_loo`` and ``subjects`` (label ->
        ``{"raw": value}``).
    """
    raw, ceiling = score.attrs["raw"], score.attrs["ceiling"]
    subject_scores = list(raw.attrs["subject_scores"])
    return {
        "score": peer.scalar(score),
        "raw": peer.scalar(raw),
        "ceiling": peer.scalar(ceiling),
        "lower_bound_loo": float(ceiling.attrs["lower_bound_loo"]),
        "subjects": {
            str(label): {"raw": float(value)}
            for label, value in zip(subjects, subject_scores, strict=True)
        },
    }


def score_region(train, test, activations, *, region, dataset_prefix, threshold=NC_THRESHOLD):
    """Score one region's ``-rdm`` benchmark with Brain-Score's classes on nsdval's inputs.

    Parameters
    ----------
    train, test : xarray.DataArray
        Brain-Score assemblies (all neuroids).
    activations : tuple of xarray.DataArray
        Train and test model activations (presentation, neuroid) with ``stimulus_id``.
    region : str
    dataset_prefix : str
        E.g. ``Allen2022_fmri``; the benchmark is ``{dataset_prefix}.{region}-rdm``.
    threshold : float

    Returns
    -------
    dict
        As :func:`rsa_record`.
    """
    with peer.quiet():
        benchmark = build_rsa_benchmark(
            train, test, region=region, dataset_prefix=dataset_prefix, threshold=threshold
        )
        score = benchmark(peer.RecordedModel(activations))
    subjects = np.unique(benchmark._assembly["subject"].values)
    return rsa_record(score, subjects)
