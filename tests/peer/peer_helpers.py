"""Helpers of the peer tests: the real Brain-Score benchmarks on a synthetic tree.

Each helper takes a :class:`~nsdval.data.families.Family` (default: volume, 8 subjects):
``Allen2022_fmri``, ``Allen2022_fmri_4subj``, ``Allen2022_fmri_surface`` and
``Allen2022_fmri_surface_4subj`` read their assemblies and activations from the family's
folders of the tree.
"""

from unittest import mock

import numpy as np
import xarray as xr

from nsdval.analysis import peer
from nsdval.data import assemblies
from nsdval.data.families import Family, family_layout

REGIONS = ("V1", "V2", "V4", "IT")
TOLERANCE = 1e-6
VOLUME = Family()
OTHER_FAMILIES = (Family("volume", "_4subj"), Family("surface"), Family("surface", "_4subj"))
"""The families beside the volume 8-subject one, each scored by its own Brain-Score benchmark."""


def tree_activations(root, region, family=VOLUME):
    layout = family_layout(root, family)
    return tuple(assemblies.load_activations(layout, region, s) for s in ("train", "test"))


def dataset_loader(root, family=VOLUME):
    """A stand-in for ``brainscore_vision.load_dataset`` serving a family's netCDF files.

    Only the family's own two identifiers (``Allen2022_fmri_surface_4subj_train``, ...)
    are served: a benchmark asking for another family's data fails here.
    """
    layout = family_layout(root, family)

    def load_dataset(identifier):
        prefix, _, split = identifier.rpartition("_")
        if prefix != family.benchmark_name or split not in ("train", "test"):
            raise KeyError(f"{identifier!r} is no dataset of {family.benchmark_name}")
        with xr.open_dataarray(layout.brainscore_assembly(split)) as opened:
            array = opened.load()
        return peer.neuroid_assembly(array, identifier=identifier)

    return load_dataset


def benchmark_module(family):
    """The Brain-Score plugin module that builds the family's benchmarks."""
    if family.space == "surface":
        from brainscore_vision.benchmarks.allen2022_fmri_surface import benchmark as module
    else:
        from brainscore_vision.benchmarks.allen2022_fmri import benchmark as module
    return module


def real_benchmark(root, region, family=VOLUME):
    """Brain-Score's registered ``FAMILY.REGION-ridge`` benchmark reading the tree's assemblies.

    The benchmark is built by the factory Brain-Score registers under its identifier (e.g.
    ``Allen2022fmriSurface('V4', 'ridge', dataset_prefix='Allen2022_fmri_surface_4subj')``).
    Returns the benchmark and a context manager that keeps the plugin module's
    ``load_dataset`` pointed at the tree (the assemblies load lazily, the test repetitions
    only when scoring).
    """
    from brainscore_vision import benchmark_registry

    module = benchmark_module(family)  # importing the plugin registers its benchmarks
    identifier = f"{family.benchmark_name}.{region}-ridge"
    patch = mock.patch.object(module, "load_dataset", dataset_loader(root, family))
    with patch:
        bench = benchmark_registry[identifier]()
    assert bench.identifier == identifier
    return bench, patch


def keep_ceiling_in_memory(bench):
    """Compute the ceiling once per benchmark object instead of once per subject."""
    value = bench._ceiling_func()
    bench._ceiling = lambda identifier=None: value


def score_real_benchmark(root, region, family=VOLUME):
    """Score the tree's activations with the real benchmark object; score.json's shape."""
    bench, patch = real_benchmark(root, region, family)
    with patch, peer.quiet():
        keep_ceiling_in_memory(bench)
        score = bench(peer.RecordedModel(tree_activations(root, region, family)))
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


def replica_record(root, region, family=VOLUME, **folders):
    """nsdval's replica of the region, in score.json's shape."""
    from nsdval.analysis import benchmark

    layout = family_layout(root, family, **folders)
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


def reported_record(root, region, family=VOLUME):
    """The tree's reported ``score.json`` of the region in the family's benchmark folder."""
    return assemblies.load_score(family_layout(root, family).score(region))
