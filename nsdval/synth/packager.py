"""Package the preprocessed blocks as the assemblies Brain-Score ships.

Region assemblies hold the repetition averages; the Brain-Score train and test assemblies
add the per-subject, per-voxel global z-score and the split. Everything is written as one
netCDF DataArray per file, with plain coordinates along the dimensions, the way Brain-Score
stores its assemblies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from nsdval import atomic
from nsdval.synth import faults, rdm_faults
from nsdval.synth.presets import REGIONS
from nsdval.synth.scoring import score_region

MODEL = "synthetic-linear"
TIME_BIN = (70, 170)
TRAIN_FRACTION = 0.8
# the coordinate order of the published Brain-Score assemblies
BRAINSCORE_NEUROID_COORDS = [
    "neuroid_id",
    "subject",
    "region",
    "nc_testset",
    "voxel_x",
    "voxel_y",
    "voxel_z",
]


def make_split(n_images, seed):
    """Return the sorted train and test rows of the nsd_id-sorted image list.

    Examples
    --------
    >>> train, test = make_split(5, 42)
    >>> train.tolist(), test.tolist()
    ([0, 1, 2, 4], [3])
    """
    order = np.arange(n_images)
    np.random.RandomState(seed).shuffle(order)
    n_train = int(TRAIN_FRACTION * n_images)
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def stimulus_ids(nsd_ids):
    """Return Brain-Score stimulus ids of NSD ids.

    Examples
    --------
    >>> stimulus_ids(np.array([7, 12345]))
    ['nsd_00007', 'nsd_12345']
    """
    return [f"nsd_{int(nsd_id):05d}" for nsd_id in nsd_ids]


def neuroid_table(blocks, fault=None):
    """Return one row of neuroid coordinates per voxel of the blocks, in block order.

    Parameters
    ----------
    blocks : sequence of Block
        Subject-major blocks of voxels.
    fault : str or None
        Only ``nc-testset-wrong`` changes the table.

    Returns
    -------
    pandas.DataFrame
        Columns ``neuroid_id``, ``subject``, ``region``, ``voxel_x``, ``voxel_y``,
        ``voxel_z``, ``nc_testset``.
    """
    parts = []
    for block in blocks:
        part = pd.DataFrame(block.coords, columns=["voxel_x", "voxel_y", "voxel_z"])
        part.insert(0, "region", block.region)
        part.insert(0, "subject", block.subject)
        part["nc_testset"] = faults.nc_testset(block.ncsnr, fault)
        parts.append(part)
    return with_neuroid_ids(pd.concat(parts, ignore_index=True))


def with_neuroid_ids(table):
    """Return ``table`` with ``neuroid_id`` rebuilt from its subject and region labels."""
    count = table.groupby(["subject", "region"], sort=False).cumcount()
    ids = [
        f"{s}_{r}_v{i:04d}"
        for s, r, i in zip(table["subject"], table["region"], count, strict=True)
    ]
    return table.assign(neuroid_id=ids)[
        ["neuroid_id", "subject", "region", "voxel_x", "voxel_y", "voxel_z", "nc_testset"]
    ]


def _neuroid_coords(table):
    """Return xarray coordinates along ``neuroid`` from a neuroid table."""
    coords = {}
    for name, column in table.items():
        values = column.to_numpy()
        coords[name] = ("neuroid", values.astype(str) if values.dtype == object else values)
    return coords


def _presentation_coords(nsd_ids, repetition=None):
    """Return xarray coordinates along ``presentation``."""
    coords = {
        "stimulus_id": ("presentation", np.array(stimulus_ids(nsd_ids))),
        "nsd_id": ("presentation", np.asarray(nsd_ids, dtype=np.int64)),
    }
    if repetition is not None:
        coords["repetition"] = ("presentation", np.asarray(repetition, dtype=np.int64))
    return coords


def region_assembly(blocks, region, nsd_ids):
    """Return the region assembly: repetition averages of all images x all subjects' voxels.

    Parameters
    ----------
    blocks : sequence of Block
        All blocks; those of ``region`` are used, in subject order.
    region : str
        Region name.
    nsd_ids : (n_images,) int array
        NSD ids as they should be labelled (sorted).

    Returns
    -------
    xarray.DataArray
        Dims (presentation, neuroid), float32.
    """
    chosen = [block for block in blocks if block.region == region]
    values = np.concatenate([block.per_rep.mean(axis=1) for block in chosen], axis=1)
    coords = {**_presentation_coords(nsd_ids), **_neuroid_coords(neuroid_table(chosen))}
    return xr.DataArray(
        values.astype(np.float32),
        dims=("presentation", "neuroid"),
        coords=coords,
        name=f"Allen2022.{region}",
    )


def brainscore_values(block, rows, fault):
    """Return the globally z-scored train and test values of one block.

    Parameters
    ----------
    block : Block
        One subject's region voxels.
    rows : tuple of (train_rows, test_rows)
        Image rows of each assembly.
    fault : str or None
        Active fault.

    Returns
    -------
    train : (n_train, n_voxels) float array
    test : (n_test * 3, n_voxels) float array
        Image-major, three repetitions per image.
    """
    averaged = block.per_rep.mean(axis=1)
    mean, std = faults.global_stats(averaged[faults.stats_rows(rows, fault)], fault)
    train = (averaged[rows[0]] - mean) / std
    test = faults.order_repetitions(block.per_rep[rows[1]], fault)
    test = (test - mean) / std
    return train, test.reshape(-1, test.shape[2])


def brainscore_assemblies(blocks, nsd_ids, rows, fault, rng):
    """Return the Brain-Score train and test assemblies.

    Parameters
    ----------
    blocks : sequence of Block
        Subject-major blocks, regions in V1, V2, V4, IT order.
    nsd_ids : (n_images,) int array
        NSD ids as they should be labelled (sorted).
    rows : tuple of (train_rows, test_rows)
        Image rows of each assembly.
    fault : str or None
        Active fault.
    rng : numpy.random.Generator
        Used by the ``neuroids-shuffled`` fault only.

    Returns
    -------
    train, test : xarray.DataArray
        Dims (presentation, neuroid, time_bin).
    """
    parts = [brainscore_values(block, rows, fault) for block in blocks]
    table = neuroid_table(blocks, fault)
    order = faults.neuroid_permutation(table, fault, rng)
    subjects = list(dict.fromkeys(block.subject for block in blocks))
    table = with_neuroid_ids(faults.relabel(table, subjects, fault))
    n_test = rows[1].size
    arrays = {
        "train": (np.concatenate([p[0] for p in parts], axis=1), nsd_ids[rows[0]], None),
        "test": (
            np.concatenate([p[1] for p in parts], axis=1),
            np.repeat(nsd_ids[rows[1]], 3),
            np.tile([0, 1, 2], n_test),
        ),
    }
    return tuple(
        _brainscore_array(split, arrays[split], order, table) for split in ("train", "test")
    )


def _brainscore_array(split, content, order, table):
    """Build one Brain-Score DataArray with a single time bin."""
    values, ids, repetition = content
    table = table[BRAINSCORE_NEUROID_COORDS]
    coords = {**_presentation_coords(ids, repetition), **_neuroid_coords(table)}
    coords["time_bin_start"] = ("time_bin", np.array([TIME_BIN[0]], dtype=np.int64))
    coords["time_bin_end"] = ("time_bin", np.array([TIME_BIN[1]], dtype=np.int64))
    return xr.DataArray(
        values[:, order, np.newaxis].astype(np.float32),
        dims=("presentation", "neuroid", "time_bin"),
        coords=coords,
        name=f"Allen2022_fmri_{split}",
    )


def activations(features, nsd_ids):
    """Return model activations as a (presentation, neuroid) DataArray.

    Parameters
    ----------
    features : (n_images, n_features) float array
        One row per image.
    nsd_ids : (n_images,) int array
        NSD ids as they should be labelled.
    """
    return xr.DataArray(
        np.asarray(features, dtype=np.float32),
        dims=("presentation", "neuroid"),
        coords={
            "stimulus_id": ("presentation", np.array(stimulus_ids(nsd_ids))),
            "neuroid_id": (
                "neuroid",
                np.array([f"feat_{i:05d}" for i in range(features.shape[1])]),
            ),
        },
        name="activations",
    )


def split_table(nsd_ids, rows):
    """Return the split CSV content: one row per image, sorted by nsd_id."""
    split = np.full(nsd_ids.size, "train", dtype=object)
    split[rows[1]] = "test"
    return pd.DataFrame({"stimulus_id": stimulus_ids(nsd_ids), "nsd_id": nsd_ids, "split": split})


def write_array(array, path):
    """Write a DataArray as netCDF with h5netcdf, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array.to_netcdf(path, engine="h5netcdf")


def write_benchmark(folder, assemblies, acts, name, falsify=None, rdm_fault=None):
    """Write each region's activations, ``score.json`` and ``score_rdm.json``.

    Parameters
    ----------
    folder : pathlib.Path
        The benchmark folder (``benchmark/``, ``benchmark_surface/``, ...).
    assemblies : (train, test) xarray.DataArray
        The Brain-Score assemblies as packaged, scored by
        :func:`nsdval.synth.scoring.score_region` (``-ridge``) and
        :func:`nsdval.synth.rdm_faults.score_rdm` (``-rdm``).
    acts : (train, test) xarray.DataArray
        The model activations.
    name : str
        Benchmark family, e.g. ``Allen2022_fmri``; ``score.json`` names ``NAME.REGION-ridge``,
        ``score_rdm.json`` ``NAME.REGION-rdm``.
    falsify : callable or None
        ``falsify(report, region)`` returns the ``score.json`` report to write (a planted
        fault).
    rdm_fault : str or None
        A fault of :data:`nsdval.synth.rdm_faults.RDM_FAULTS`, to compute ``score_rdm.json``
        its wrong way.

    Returns
    -------
    dict
        ``{"scores": {region: score}, "scores_rdm": {region: score}}``, as written.
    """
    scores, scores_rdm = {}, {}
    for region in REGIONS:
        for split, array in zip(("train", "test"), acts, strict=True):
            write_array(array, folder / region / f"activations_{split}.nc")
        report = {
            "benchmark": f"{name}.{region}-ridge",
            "model": MODEL,
            **score_region(*assemblies, acts, region),
        }
        if falsify is not None:
            report = falsify(report, region)
        atomic.write_json(folder / region / "score.json", report)
        scores[region] = report["score"]
        rdm = {
            "benchmark": f"{name}.{region}-rdm",
            "model": MODEL,
            **rdm_faults.score_rdm(*assemblies, acts, region, rdm_fault),
        }
        atomic.write_json(folder / region / "score_rdm.json", rdm)
        scores_rdm[region] = rdm["score"]
    return {"scores": scores, "scores_rdm": scores_rdm}
