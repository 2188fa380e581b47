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


def tree_activations(root, region, family=VOLUME, **folders):
    layout = family_layout(root, family, **folders)
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


def rdm_module(family):
    """Brain-Score's benchmark module of the family and its ``-rdm`` factory."""
    module = benchmark_module(family)
    surface = family.space == "surface"
    return module, module.Allen2022fmriSurfaceRSA if surface else module.Allen2022fmriRSA


def real_rdm_benchmark(root, region, family=VOLUME):
    """Brain-Score's own ``-rdm`` factory reading the tree's assemblies.

    Returns the benchmark and the context manager that keeps ``load_dataset`` pointed at
    the tree: the one thing patched, so Brain-Score's ``load_full_assembly`` (filter,
    region, repetition averages, train + test) runs as it is.
    """
    module, factory = rdm_module(family)
    bench = factory(region, dataset_prefix=family.benchmark_name)
    return bench, mock.patch.object(module, "load_dataset", dataset_loader(root, family))


def score_real_rdm_benchmark(root, region, family=VOLUME, activations=None):
    """The real ``-rdm`` benchmark on the tree with a stand-in model, read off its Score."""
    bench, patch = real_rdm_benchmark(root, region, family)
    model = peer.RecordedModel(activations or tree_activations(root, region, family))
    with patch, peer.quiet():
        score = bench(model)
        subjects = np.unique(bench._assembly["subject"].values).tolist()
    raw, ceiling = score.attrs["raw"], score.attrs["ceiling"]
    return {
        "benchmark": bench.identifier,
        "raw": float(raw),
        "ceiling": float(ceiling),
        "lower_bound_loo": float(ceiling.attrs["lower_bound_loo"]),
        "score": float(score),
        "subjects": {
            label: {"raw": float(value)}
            for label, value in zip(subjects, raw.attrs["subject_scores"], strict=True)
        },
    }


def _image_means(array):
    """(stimulus ids, per-image means over the presentations of each image), float64."""
    ids, inverse = np.unique(np.asarray(array["stimulus_id"].values), return_inverse=True)
    sums = np.zeros((ids.size, array.shape[1]))
    np.add.at(sums, inverse, np.asarray(array.values, dtype=np.float64))
    return ids, sums / np.bincount(inverse)[:, None]


def rdm_subject_arrays(root, region, family=VOLUME):
    """Each subject's (images x units) values as the ``-rdm`` benchmark takes them.

    From the tree's Brain-Score files, read here with xarray: the region's neuroids with
    ``nc_testset > 30``, train and test with each image's repetitions averaged, one after
    the other. Returns the stimulus ids and ``{subject: values}`` in that row order.
    """
    layout = family_layout(root, family)
    ids, values, labels = [], [], None
    for split in ("train", "test"):
        with xr.open_dataarray(layout.brainscore_assembly(split)) as opened:
            array = opened.load().isel(time_bin=0)
        keep = (array["region"].values == region) & (array["nc_testset"].values > 30)
        array = array.isel(neuroid=np.flatnonzero(keep))
        labels = np.asarray(array["subject"].values).astype(str)
        split_ids, means = _image_means(array)
        ids.append(split_ids)
        values.append(means)
    ids, values = np.concatenate(ids), np.concatenate(values)
    return ids, {label: values[:, labels == label] for label in sorted(set(labels))}


def rdm_replica(root, region, family=VOLUME, activations=None):
    """nsdval's replica (``rsa.score_rsa``) on arrays sorted by stimulus id."""
    from nsdval.analysis import rsa

    ids, subjects = rdm_subject_arrays(root, region, family)
    activations = activations or tree_activations(root, region, family)
    model, model_ids = rsa.sort_by_stimulus(
        np.concatenate([a.transpose("presentation", "neuroid").values for a in activations]),
        np.concatenate([np.asarray(a["stimulus_id"].values).astype(str) for a in activations]),
    )
    assert model_ids.tolist() == sorted(ids.tolist())  # the activations hold every image once
    order = np.argsort(ids, kind="stable")
    return rsa.score_rsa(model, {label: values[order] for label, values in subjects.items()})


def rdm_gaps(ours, theirs):
    """|replica - record| of raw, ceiling, bound, score and each subject's raw (NaN == NaN)."""

    def gap(a, b):
        return 0.0 if np.isnan(a) and np.isnan(b) else abs(a - b)

    assert list(ours.subject_raws) == list(theirs["subjects"])
    gaps = {key: gap(getattr(ours, key), theirs[key]) for key in RDM_KEYS}
    for label, raw in ours.subject_raws.items():
        gaps[label] = gap(raw, theirs["subjects"][label]["raw"])
    return gaps


def rdm_record_gaps(a, b):
    """|a - b| of two ``score_rdm.json``-shaped records: their numbers and subjects' raws."""

    def gap(x, y):
        return 0.0 if np.isnan(x) and np.isnan(y) else abs(x - y)

    assert list(a["subjects"]) == list(b["subjects"])
    gaps = {key: gap(a[key], b[key]) for key in RDM_KEYS}
    for label in a["subjects"]:
        gaps[label] = gap(a["subjects"][label]["raw"], b["subjects"][label]["raw"])
    return gaps


RDM_KEYS = ("raw", "ceiling", "lower_bound_loo", "score")
RDM_TOLERANCE = 1e-6
