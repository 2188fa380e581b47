"""The ``REGION-rdm`` benchmark of one region: what it scores, reported vs replica vs live.

``Allen2022_fmri[_4subj|_surface|_surface_4subj].REGION-rdm`` scores the region's neuroids with
``nc_testset > 30`` (the ridge benchmark's selection, :func:`nsdval.analysis.benchmark.
region_responses`) on every image: the train images and the test images with their
repetitions averaged (NaN-aware, as Brain-Score's ``average_repetition``), each subject's
rows sorted by ``stimulus_id``, and the model activations of the same images in the same
order. :func:`nsdval.analysis.rsa.score_rsa` computes the replica; the reported numbers come
from ``score_rdm.json`` (:func:`nsdval.data.assemblies.load_rdm_score`, optional) and the live
ones from Brain-Score's own classes (:mod:`nsdval.analysis.peer_rsa`, when installed).

The checks comparing these numbers are in :mod:`nsdval.analysis.rdm_checks`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nsdval.analysis import benchmark, live, peer_rsa, rsa
from nsdval.analysis.noiseceiling.formula import NC_THRESHOLD
from nsdval.data import assemblies
from nsdval.data.families import Family
from nsdval.data.layout import detect_layout

NUMBERS = ("raw", "ceiling", "lower_bound_loo", "score")
LIVE_NOTES = live.LiveNotes(
    off="Brain-Score live: not run (brainscore_live=False).",
    missing="Brain-Score live: not run: brainscore_vision not importable ({detail}).",
    failed="Brain-Score live ({detail}) failed: {error}",
    done="Brain-Score live: scored with its own RSA classes ({detail}).",
)


@dataclass(frozen=True)
class RdmData:
    """What the ``-rdm`` benchmark scores for one region, images sorted by stimulus id.

    Attributes
    ----------
    stimulus_ids : (n_images,) array of str
        Sorted.
    subjects : dict
        Subject label (sorted) -> (n_images, n_units) float64 array.
    model : (n_images, n_features) float64 array or None
        Model activations of the same images; None when only the responses were loaded.
    n_train, n_test : int
        Images from each split.
    """

    stimulus_ids: np.ndarray
    subjects: dict
    model: np.ndarray | None
    n_train: int
    n_test: int


def load_assemblies(*, nsd_root, variant, space="volume", **folders):
    """The tree's layout and its Brain-Score train and test assemblies.

    Parameters
    ----------
    nsd_root : str or Path
    variant : str
        Assembly file suffix, e.g. ``_8subj``.
    space : {'volume', 'surface'}
    **folders
        ``assemblies_dir``, ``brainscore_dir``, ``benchmark_dir``; empty ones are ignored.

    Returns
    -------
    layout : NsdLayout
    train, test : xarray.DataArray
    """
    folders = {key: value for key, value in folders.items() if value}
    layout = detect_layout(nsd_root, variant, space=space, **folders)
    splits = (assemblies.load_brainscore_assembly(layout, s) for s in ("train", "test"))
    return (layout, *splits)


def dataset_prefix(layout):
    """Brain-Score's name of the layout's family, e.g. ``Allen2022_fmri_surface_4subj``.

    Examples
    --------
    >>> from nsdval.data.layout import NsdLayout
    >>> dataset_prefix(NsdLayout("/nsd", variant="_4subj", space="surface"))
    'Allen2022_fmri_surface_4subj'
    """
    return Family(layout.space, layout.variant).benchmark_name


def benchmark_identifier(layout, region):
    """The region's ``-rdm`` benchmark, e.g. ``Allen2022_fmri.V4-rdm``."""
    return f"{dataset_prefix(layout)}.{region}-rdm"


def all_images(responses, *, dtype):
    """Train rows, then the test images' repetition means (NaN-aware), with their stimulus ids.

    Brain-Score averages the repetitions in the assembly's own dtype (xarray keeps float32
    float32), and so does this: a float64 mean moves the Spearman correlations by ~1e-7
    through the rounding of near-tied RDM entries.

    Parameters
    ----------
    responses : RegionResponses or BenchmarkData
    dtype : numpy dtype
        The Brain-Score assembly's (``train.dtype``).

    Returns
    -------
    values : (n_train + n_test, n_voxels) float64 array
    stimulus_ids : (n_train + n_test,) array of str

    Examples
    --------
    >>> from nsdval.analysis.benchmark import RegionResponses
    >>> responses = RegionResponses(
    ...     y_train=np.array([[1.0]]), test_reps=np.array([[[2.0]], [[np.nan]], [[4.0]]]),
    ...     groups=np.array(["subj01"]), train_stimuli=np.array(["b"]),
    ...     test_stimuli=np.array(["a"]))
    >>> values, ids = all_images(responses, dtype=np.float32)
    >>> values.ravel().tolist(), ids.tolist()
    ([1.0, 3.0], ['b', 'a'])
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an image with no repetition: NaN
        test_means = np.nanmean(np.asarray(responses.test_reps, dtype=dtype), axis=0)
    values = np.concatenate([responses.y_train, test_means.astype(np.float64)])
    return values, np.concatenate([responses.train_stimuli, responses.test_stimuli])


def subject_values(responses, *, dtype):
    """Each subject's values on every image, rows sorted by stimulus id.

    Parameters
    ----------
    responses : RegionResponses or BenchmarkData
    dtype : numpy dtype
        The Brain-Score assembly's, in which the test repetitions are averaged.

    Returns
    -------
    stimulus_ids : (n_images,) sorted array of str
    subjects : dict
        Subject label (sorted) -> (n_images, n_units) float64 array.
    """
    values, ids = all_images(responses, dtype=dtype)
    values, ids = rsa.sort_by_stimulus(values, ids, unique=False)
    groups = np.asarray(responses.groups)
    return ids, {str(label): values[:, groups == label] for label in np.unique(groups)}


def rdm_data(data, *, dtype):
    """:class:`RdmData` from the ridge benchmark's arrays (:class:`~benchmark.BenchmarkData`)."""
    ids, subjects = subject_values(data, dtype=dtype)
    model_ids = np.concatenate([data.train_stimuli, data.test_stimuli])
    features = np.concatenate([data.x_train, data.x_test])
    model, _ = rsa.sort_by_stimulus(features, model_ids, unique=False)
    n_train, n_test = len(data.train_stimuli), len(data.test_stimuli)
    return RdmData(ids, subjects, model, n_train, n_test)


def load_rdm_data(layout, region, *, train, test, threshold=NC_THRESHOLD):
    """What the region's ``-rdm`` benchmark scores: responses and model activations.

    Parameters
    ----------
    layout : NsdLayout
        The tree (for the activations).
    region : str
    train, test : xarray.DataArray
        The Brain-Score assemblies.
    threshold : float
        Keep neuroids with ``nc_testset`` strictly above this (percent).

    Returns
    -------
    RdmData
    """
    data = benchmark.load_benchmark_data(
        layout, region, train=train, test=test, threshold=threshold
    )
    return rdm_data(data, dtype=test.dtype)


def score_replica(data):
    """The replica's numbers on :class:`RdmData`: an ``RsaBenchmark``."""
    return rsa.score_rsa(data.model, data.subjects)


def reported_note(reported, path):
    """One line saying where the reported numbers come from, or that there are none."""
    if reported is None:
        return f"Reported: none ({path} does not exist), nothing to compare."
    what = f"{reported.get('benchmark', 'benchmark not named')}, model {reported.get('model')}"
    return f"Reported: {path} ({what})."


def score_live(layout, region, *, train, test, enabled=True, threshold=NC_THRESHOLD):
    """Score the same files with Brain-Score's RSA classes, when Brain-Score is installed.

    Returns
    -------
    record : dict or None
        :func:`nsdval.analysis.peer_rsa.rsa_record`'s dict; None when Brain-Score is not
        used; ``{"subjects": {}, "error": ...}`` when it raised.
    note : str
        One line for the report: what was used, or why not.
    """
    return live.live_record(
        lambda: tuple(assemblies.load_activations(layout, region, s) for s in benchmark.SPLITS),
        lambda activations: peer_rsa.score_region(
            train,
            test,
            activations,
            region=region,
            dataset_prefix=dataset_prefix(layout),
            threshold=threshold,
        ),
        enabled=enabled,
        notes=LIVE_NOTES,
    )


def numbers_table(reported, replica, live):
    """Reported, replica and live side by side: the four numbers, then each subject's raw.

    Returns
    -------
    pandas.DataFrame
        Index ``number`` (``raw``, ``ceiling``, ``lower_bound_loo``, ``score``, ``subjNN raw``);
        columns ``reported`` (NaN without ``score_rdm.json``), ``nsdval replica`` and, when
        Brain-Score scored, ``Brain-Score live``.
    """
    sources = {"reported": reported or {}, "nsdval replica": replica_record(replica)}
    if live is not None and not live.get("error"):
        sources["Brain-Score live"] = live
    rows = {key: {n: _number(s, key) for n, s in sources.items()} for key in NUMBERS}
    for label in replica.subject_raws:
        rows[f"{label} raw"] = {n: _number(s, "raw", label) for n, s in sources.items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("number")


def _number(record, key, label=None):
    if label is not None:
        record = (record.get("subjects") or {}).get(label) or {}
    value = record.get(key)
    return np.nan if value is None else float(value)


def subject_raw_table(reported, replica, live):
    """Each subject's raw: reported, replica and (when scored) Brain-Score live columns."""
    table = numbers_table(reported, replica, live).iloc[len(NUMBERS) :]
    subjects = [label.removesuffix(" raw") for label in table.index]
    return table.set_axis(pd.Index(subjects, name="subject"))


def replica_record(replica):
    """An ``RsaBenchmark`` as ``score_rdm.json``'s dict."""
    return {
        **{key: float(getattr(replica, key)) for key in NUMBERS},
        "subjects": {label: {"raw": raw} for label, raw in replica.subject_raws.items()},
    }


def region_record(region, *, identifier, reported, replica, live, notes):
    """JSON-ready numbers for the sidecar, keyed by region as the index's benchmark summary.

    ``reported`` and ``brainscore`` are None when there is no ``score_rdm.json`` or no live
    run; ``notes`` are the report's one-line explanations (reported, live).
    """
    subjects = {
        label: {
            "replica": _plain(raw),
            "reported": _plain(_number(reported or {}, "raw", label)),
            "brainscore": _plain(_number(live or {}, "raw", label)),
        }
        for label, raw in replica.subject_raws.items()
    }
    return {
        region: {
            "benchmark": identifier,
            "model": (reported or {}).get("model"),
            "reported": _numbers(reported),
            "replica": _numbers(replica_record(replica)),
            "brainscore": _numbers(live),
            "subjects": subjects,
            "notes": list(notes),
        }
    }


def _numbers(record):
    """The four numbers of a record, JSON-ready; None without one (or when it is an error)."""
    if record is None or record.get("error"):
        return None
    return {key: _plain(_number(record, key)) for key in NUMBERS}


def _plain(value):
    """None for NaN (JSON has no NaN), else the float."""
    return None if value is None or np.isnan(value) else float(value)
