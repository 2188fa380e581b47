"""Helpers of the peer tests: the real Brain-Score benchmark on a synthetic tree."""

from unittest import mock

import numpy as np
import xarray as xr

from nsdval.analysis import peer
from nsdval.data import assemblies
from nsdval.data.layout import detect_layout

REGIONS = ("V1", "V2", "V4", "IT")
TOLERANCE = 1e-5


def tree_activations(root, region):
    layout = detect_layout(root)
    return tuple(assemblies.load_activations(layout, region, s) for s in ("train", "test"))


def dataset_loader(root):
    """A stand-in for ``brainscore_vision.load_dataset`` serving a tree's netCDF files."""

    def load_dataset(identifier):
        split = identifier.rsplit("_", 1)[1]
        path = detect_layout(root).brainscore_assembly(split)
        with xr.open_dataarray(path) as opened:
            array = opened.load()
        return peer.neuroid_assembly(array, identifier=identifier)

    return load_dataset


def real_benchmark(root, region):
    """Brain-Score's own ``Allen2022fmri(region, 'ridge')`` reading the tree's assemblies.

    Returns the benchmark and a context manager that keeps ``load_dataset`` pointed at
    the tree (the assemblies load lazily, the test repetitions only when scoring).
    """
    from brainscore_vision.benchmarks.allen2022_fmri import benchmark as module

    patch = mock.patch.object(module, "load_dataset", dataset_loader(root))
    with patch:
        bench = module.Allen2022fmri(region, "ridge")
    return bench, patch


def keep_ceiling_in_memory(bench):
    """Compute the ceiling once per benchmark object instead of once per subject."""
    value = bench._ceiling_func()
    bench._ceiling = lambda identifier=None: value


def score_real_benchmark(root, region):
    """Score the tree's activations with the real benchmark object; score.json's shape."""
    bench, patch = real_benchmark(root, region)
    with patch, peer.quiet():
        keep_ceiling_in_memory(bench)
        score = bench(peer.RecordedModel(tree_activations(root, region)))
    return peer.score_record(score, peer.benchmark_subjects(bench))


def flat(record):
    """``{("final", key) | (subject, key): value}`` of a score.json-shaped record."""
    out = {("final", key): float(record[key]) for key in ("score", "raw", "ceiling")}
    for label, numbers in record["subjects"].items():
        out.update({(label, key): float(numbers[key]) for key in ("raw", "ceiling", "score")})
    return out


def max_difference(a, b):
    """Largest |a - b| over the numbers of two records (NaN equal to NaN); keys must match."""
    a, b = flat(a), flat(b)
    assert sorted(a) == sorted(b)
    diffs = [0.0 if np.isnan(a[k]) and np.isnan(b[k]) else abs(a[k] - b[k]) for k in sorted(a)]
    return float(np.max(diffs))


def replica_record(root, region, **folders):
    """nsdval's replica of the region, in score.json's shape."""
    from nsdval.analysis import benchmark

    layout = detect_layout(root, **folders)
    train = assemblies.load_brainscore_assembly(layout, "train")
    test = assemblies.load_brainscore_assembly(layout, "test")
    _, summary, subjects = benchmark.region_summary(layout, region, train=train, test=test)
    return {
        **summary,
        "subjects": {
            label: {"raw": sb.raw, "ceiling": sb.ceiling, "score": sb.score}
            for label, sb in subjects.items()
        },
    }
