"""Brain-Score's own benchmark code, run on the assemblies and activations nsdval validates.

Brain-Score (``brainscore_vision``, ``brainscore_core``) is optional: it is imported only
when a function here is called, and :func:`brainscore_status` says whether it can be. With
it, :func:`score_region` scores ``Allen2022_fmri.REGION-ridge`` with Brain-Score's classes
(its ``TrainTestNeuralBenchmark`` with the ``dual_ridge_split`` metric and the
``internal_consistency`` ceiling), so that the numbers nsdval's replica computes can be held
against Brain-Score's, computed live from the same files.

Two things differ from ``brainscore_vision.load_benchmark``, and neither touches a number:

- the assemblies are the DataArrays nsdval loaded, turned into ``NeuroidAssembly`` objects
  and filtered by :func:`load_split`, which repeats the six lines of
  ``benchmarks/allen2022_fmri/benchmark.py:load_assembly`` with Brain-Score's own helpers
  (that module cannot be imported without ``load_metric``, which may run pip);
- the ceiling is computed once and kept in memory. ``BenchmarkBase.ceiling`` stores it on
  disk under the benchmark identifier (``result_caching``), which would mix the ceilings of
  different trees, and with caching disabled it is recomputed once per subject.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd

from nsdval.analysis.noiseceiling.formula import NC_THRESHOLD
from nsdval.errors import DependencyError, InputError

VISUAL_DEGREES = 8.4
ALPHA_COORD = "subject"
SCORE_KEYS = ("raw", "ceiling", "score")


def _import_brainscore():
    """Import the Brain-Score names used here; raises ImportError without Brain-Score."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # Score lacks __slots__
        from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly
        from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet
        from brainscore_vision.benchmark_helpers import neural_common
        from brainscore_vision.metrics.internal_consistency.ceiling import InternalConsistency
        from brainscore_vision.metrics.regression_correlation import metric

    return SimpleNamespace(
        NeuroidAssembly=NeuroidAssembly,
        StimulusSet=StimulusSet,
        neural_common=neural_common,
        InternalConsistency=InternalConsistency,
        metric=metric,
    )


def brainscore_status():
    """Whether Brain-Score can be imported here.

    Returns
    -------
    available : bool
    message : str
        The Brain-Score version in use, or why it cannot be imported.
    """
    try:
        _import_brainscore()
    except ImportError as exc:
        return False, str(exc)
    except Exception as exc:  # a broken install raises more than ImportError
        return False, f"{type(exc).__name__}: {exc}"
    from importlib.metadata import PackageNotFoundError, version

    try:
        return True, f"brainscore-vision {version('brainscore-vision')}"
    except PackageNotFoundError:
        return True, "brainscore-vision (version unknown)"


def require_brainscore():
    """The Brain-Score names used here, or :class:`~nsdval.errors.DependencyError`."""
    try:
        return _import_brainscore()
    except ImportError as exc:
        hint = "run this in the Brain-Score environment (README: Supported environments)"
        raise DependencyError("brainscore_vision", f"{exc}; {hint}") from None


def unique_stimuli(array):
    """Stimulus ids of an assembly's presentations, in first-seen order."""
    return list(dict.fromkeys(np.asarray(array["stimulus_id"].values).astype(str).tolist()))


def neuroid_assembly(array, *, identifier):
    """A netCDF-loaded assembly as Brain-Score's ``NeuroidAssembly``, with its StimulusSet.

    Parameters
    ----------
    array : xarray.DataArray
        Flattened coordinates along each dim, as Brain-Score stores assemblies; each dim
        needs at least two coordinates to become a MultiIndex again.
    identifier : str
        Identifier of the attached StimulusSet, e.g. ``Allen2022_fmri_train``.

    Returns
    -------
    NeuroidAssembly
        The stimulus set lists the stimulus ids only: the stand-in model never opens images.
    """
    bs = require_brainscore()
    assembly = bs.NeuroidAssembly(array.copy())
    ids = unique_stimuli(array)
    stimuli = bs.StimulusSet(pd.DataFrame({"stimulus_id": ids}))
    stimuli.stimulus_paths = {stimulus: f"{stimulus}.png" for stimulus in ids}
    stimuli.identifier = identifier
    assembly.attrs["stimulus_set"] = stimuli
    assembly.attrs["stimulus_set_identifier"] = identifier
    return assembly


def load_split(array, *, region, average_repetitions, threshold=NC_THRESHOLD, identifier):
    """``allen2022_fmri.benchmark.load_assembly`` on an assembly already in memory.

    Brain-Score's ``filter_reliable_neuroids`` (``nc_testset > threshold``), the region,
    time bin 0 and, for the test target, ``average_repetition``.
    """
    bs = require_brainscore()
    assembly = neuroid_assembly(array, identifier=identifier)
    assembly = bs.neural_common.filter_reliable_neuroids(assembly, threshold, "nc_testset")
    assembly = assembly.sel(region=region)
    assembly["region"] = "neuroid", [region] * len(assembly["neuroid"])
    assembly.load()
    assembly = assembly.isel(time_bin=0)
    if average_repetitions:
        assembly = bs.neural_common.average_repetition(assembly)
    return assembly


class RecordedModel:
    """A stand-in ``BrainModel`` whose ``look_at`` returns recorded activations.

    Parameters
    ----------
    activations : sequence of xarray.DataArray
        (presentation, neuroid) features with a ``stimulus_id`` coordinate, e.g. the
        ``activations_{train,test}.nc`` the benchmark scored.
    visual_degrees : float
        Reported to the benchmark; equal to the benchmark's, no image is ever resized.
    """

    def __init__(self, activations, *, visual_degrees=VISUAL_DEGREES):
        values = [np.asarray(a.transpose("presentation", "neuroid").values) for a in activations]
        self._values = np.concatenate(values)
        ids = [np.asarray(a["stimulus_id"].values).astype(str) for a in activations]
        self._index = pd.Index(np.concatenate(ids))
        first = activations[0]
        names = first["neuroid_id"].values if "neuroid_id" in first.coords else None
        self._neuroid_ids = np.asarray(
            names if names is not None else np.arange(self._values.shape[1])
        ).astype(str)
        self._visual_degrees = visual_degrees
        self.identifier = "recorded-activations"

    def visual_degrees(self):
        """Degrees of visual angle the model sees (the benchmark's)."""
        return self._visual_degrees

    def start_recording(self, recording_target, time_bins=None):
        """Nothing to set up: the activations are already recorded."""

    def look_at(self, stimuli, number_of_trials=1):
        """The recorded activations of ``stimuli`` as a (presentation, neuroid) assembly."""
        bs = require_brainscore()
        wanted = np.asarray(stimuli["stimulus_id"].values).astype(str)
        rows = self._index.get_indexer(wanted)
        if np.any(rows < 0):
            missing = wanted[rows < 0][0]
            raise InputError("activations", f"no recorded activations for stimulus {missing}")
        coords = {
            "stimulus_id": ("presentation", wanted),
            "stimulus_num": ("presentation", np.arange(wanted.size)),
            "neuroid_id": ("neuroid", self._neuroid_ids),
            "neuroid_num": ("neuroid", np.arange(self._neuroid_ids.size)),
        }
        return bs.NeuroidAssembly(
            self._values[rows], coords=coords, dims=["presentation", "neuroid"]
        )


def memoized(function):
    """``BenchmarkBase._ceiling`` computing ``function()`` once and keeping it in memory."""
    cache = {}

    def ceiling(identifier=None):
        if "value" not in cache:
            cache["value"] = function()
        return cache["value"]

    return ceiling


def build_benchmark(train, test, *, region, threshold=NC_THRESHOLD):
    """Brain-Score's ``Allen2022_fmri.REGION-ridge`` benchmark object on given assemblies.

    Parameters
    ----------
    train, test : xarray.DataArray
        Brain-Score train and test assemblies (presentation, neuroid, time_bin) as loaded
        from netCDF; any subset of neuroids (e.g. one subject).
    region : str
    threshold : float
        ``nc_testset`` threshold in percent.

    Returns
    -------
    brainscore_vision.benchmark_helpers.neural_common.TrainTestNeuralBenchmark
    """
    bs = require_brainscore()
    split = {"region": region, "threshold": threshold}
    test_repetitions = load_split(
        test, average_repetitions=False, identifier="Allen2022_fmri_test", **split
    )
    benchmark = bs.neural_common.TrainTestNeuralBenchmark(
        identifier=f"Allen2022_fmri.{region}-ridge",
        version=1,
        ceiling_func=lambda: bs.InternalConsistency()(test_repetitions),
        train_assembly=load_split(
            train, average_repetitions=False, identifier="Allen2022_fmri_train", **split
        ),
        test_assembly=load_split(
            test, average_repetitions=True, identifier="Allen2022_fmri_test", **split
        ),
        similarity_metric=bs.metric.TrainTestSplitCorrelation(
            regression=bs.metric.dual_ridge_regression(),
            correlation=bs.metric.pearsonr_correlation(),
        ),
        visual_degrees=VISUAL_DEGREES,
        number_of_trials=1,
        parent=region,
        alpha_coord=ALPHA_COORD,
        per_voxel_ceilings=False,
    )
    benchmark._ceiling = memoized(benchmark._ceiling_func)  # in memory, never on disk
    return benchmark


@contextlib.contextmanager
def quiet():
    """Silence what Brain-Score prints (each subject's Score, tqdm bars, FutureWarnings)."""
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        yield


def scalar(value):
    """A one-element Score or array as a float."""
    array = np.asarray(getattr(value, "values", value), dtype=np.float64).reshape(-1)
    if array.size != 1:
        raise ValueError(f"expected one value, got {array.size}")
    return float(array[0])


def benchmark_subjects(benchmark):
    """Labels of the benchmark's ``alpha_coord`` (subjects), sorted; [] without one."""
    coord = getattr(benchmark, "alpha_coord", None)
    if coord is None:
        return []
    return sorted(str(v) for v in np.unique(benchmark.train_assembly[coord].values))


def score_record(score, subjects):
    """A Brain-Score Score as ``score.json``'s dict: score, raw, ceiling and per subject."""
    return {
        "score": scalar(score),
        "raw": scalar(score.attrs["raw"]),
        "ceiling": scalar(score.attrs["ceiling"]),
        "subjects": {
            label: {
                "raw": scalar(score.attrs[label].attrs["raw"]),
                "ceiling": scalar(score.attrs[label].attrs["ceiling"]),
                "score": scalar(score.attrs[label]),
            }
            for label in subjects
        },
    }


def rsa_subjects(benchmark):
    """Subjects of an ``RSABenchmark``, in the order of its per-subject scores.

    ``RSABenchmark.__call__`` scores ``np.unique(assembly["subject"])`` one by one and keeps
    only the list of values (``raw.attrs["subject_scores"]``); the labels come from its
    assembly, which has no public accessor (``_assembly``).
    """
    assembly = getattr(benchmark, "_assembly", None)
    if assembly is None:
        raise InputError("benchmark", "an RSA benchmark keeps its assembly in _assembly")
    return [str(label) for label in np.unique(assembly["subject"].values)]


def rsa_score_record(score, subjects):
    """An ``RSABenchmark`` Score as ``score_rdm.json``'s numbers.

    Parameters
    ----------
    score : Score
        What ``RSABenchmark`` returned: raw / ceiling, with ``attrs["raw"]`` (its
        ``attrs["subject_scores"]``, one per subject) and ``attrs["ceiling"]`` (the RSA
        ceiling, the leave-one-out bound in its ``attrs["lower_bound_loo"]``).
    subjects : list of str
        Labels of ``subject_scores``, in their order (:func:`rsa_subjects`).

    Returns
    -------
    dict
        ``score``, ``raw``, ``ceiling``, ``lower_bound_loo`` and ``subjects: {label: {raw}}``.
    """
    raw, ceiling = score.attrs["raw"], score.attrs["ceiling"]
    per_subject = list(raw.attrs["subject_scores"])
    if len(per_subject) != len(subjects):
        problem = f"{len(per_subject)} subject scores for {len(subjects)} subjects"
        raise InputError("benchmark", problem)
    return {
        "score": scalar(score),
        "raw": scalar(raw),
        "ceiling": scalar(ceiling),
        "lower_bound_loo": scalar(ceiling.attrs["lower_bound_loo"]),
        "subjects": {
            label: {"raw": scalar(v)} for label, v in zip(subjects, per_subject, strict=True)
        },
    }


def score_region(train, test, activations, *, region, threshold=NC_THRESHOLD):
    """Score one region with Brain-Score's benchmark class on nsdval's inputs.

    Parameters
    ----------
    train, test : xarray.DataArray
        Brain-Score assemblies (all neuroids, or one subject's).
    activations : tuple of xarray.DataArray
        Train and test model activations (presentation, neuroid) with ``stimulus_id``.
    region : str
    threshold : float

    Returns
    -------
    dict
        ``score``, ``raw``, ``ceiling`` and ``subjects`` as in ``score.json``.
    """
    benchmark = build_benchmark(train, test, region=region, threshold=threshold)
    with quiet():
        score = benchmark(RecordedModel(activations))
    return score_record(score, benchmark_subjects(benchmark))
