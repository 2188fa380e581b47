"""Package surface blocks as the ``Allen2022_fmri_surface`` assemblies Brain-Score ships.

Written apart from the validation code, after NSD_FORMATS ("Surface (fsaverage)
assemblies") and Brain-Score's surface packaging notebooks:

- region assemblies ``Allen2022_surface.REGION{suffix}.nc``: every shared image (sorted by
  nsd_id, with ``min_reps_across_subjects``) x the region's vertices of every subject,
  subject-major, lh then rh; the nanmean of the session z-scored repetitions, NaN kept;
- Brain-Score assemblies ``Allen2022_fmri_surface_{train,test}{suffix}.nc``: the images with
  3 repetitions in every subject, the split of the volume; per subject, region and vertex a
  global z-score with nanmean / nanstd over all those images, then NaN -> 0; each test
  repetition z-scored with the same statistics and filled on its own. Neuroids region-major
  (V1, V2, V4, IT), then subject, lh before rh, ascending vertex; ``neuroid_id``
  ``subjSS_HEMI_REGION_vNNNNN`` counts within subject and region across both hemispheres.
- ``nc_testset`` = 100 ncsnr^2 / (ncsnr^2 + 1/3), NaN kept.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from nsdval.synth import faults, packager, surface_faults
from nsdval.synth.presets import REGIONS

NEUROID_COORDS = ["neuroid_id", "subject", "hemisphere", "vertex_index", "region", "nc_testset"]


def nc_testset(ncsnr):
    """Return the noise ceiling of 3-trial averages in percent, NaN kept.

    Examples
    --------
    >>> nc_testset(np.array([1.0, np.nan])).tolist()
    [75.0, nan]
    """
    ncsnr = np.asarray(ncsnr, dtype=np.float64)
    return 100.0 * ncsnr**2 / (ncsnr**2 + 1.0 / 3.0)


def neuroid_table(blocks, fault=None, brainscore=False):
    """Return one row of neuroid coordinates per column of the blocks, in block order.

    Parameters
    ----------
    blocks : sequence of SurfaceBlock
        Blocks in the order of the assembly's columns.
    fault : str or None
        Active fault; only the Brain-Score table (``brainscore=True``) carries coordinate
        faults.
    brainscore : bool
        The table of the Brain-Score assemblies.
    """
    fault = fault if brainscore else None
    parts = []
    for block in blocks:
        hemis = block.hemisphere
        source = [surface_faults.ncsnr_hemisphere(h, fault) for h in hemis]
        ncsnr = [block.ncsnr[s][v] for s, v in zip(source, block.vertex_index, strict=True)]
        counter = surface_faults.id_counter(hemis, fault)
        ids = [
            f"{block.subject}_{h}_{block.region}_v{i:05d}"
            for h, i in zip(hemis, counter, strict=True)
        ]
        parts.append(
            pd.DataFrame(
                {
                    "neuroid_id": ids,
                    "subject": block.subject,
                    "hemisphere": hemis,
                    "vertex_index": block.vertex_index.astype(np.int64)
                    + surface_faults.vertex_offset(fault),
                    "region": block.region,
                    "nc_testset": nc_testset(ncsnr),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)[NEUROID_COORDS]


def _neuroid_coords(table):
    """Return xarray coordinates along ``neuroid`` from a neuroid table."""
    coords = {}
    for name, column in table.items():
        values = column.to_numpy()
        coords[name] = ("neuroid", values.astype(str) if values.dtype == object else values)
    return coords


def _presentation_coords(nsd_ids, **extra):
    """Return xarray coordinates along ``presentation``."""
    coords = {
        "stimulus_id": ("presentation", np.array(packager.stimulus_ids(nsd_ids))),
        "nsd_id": ("presentation", np.asarray(nsd_ids, dtype=np.int64)),
    }
    for name, values in extra.items():
        coords[name] = ("presentation", np.asarray(values, dtype=np.int64))
    return coords


def region_assembly(blocks, region, shared_ids, reps, fault):
    """Return one region assembly: shared images x the region's vertices of all subjects.

    Parameters
    ----------
    blocks : sequence of SurfaceBlock
        All blocks; those of ``region`` are used, in subject order.
    region : str
        Region name.
    shared_ids : (n_shared,) int array
        Sorted 0-based NSD ids of the shared images.
    reps : (n_shared,) int array
        ``min_reps_across_subjects`` of each image.
    fault : str or None
        Active fault.

    Returns
    -------
    xarray.DataArray
        Dims (presentation, neuroid), float32, NaN kept.
    """
    chosen = [block for block in blocks if block.region == region]
    rows = surface_faults.region_rows(reps, fault)
    values = np.concatenate(
        [surface_faults.repetition_mean(block.per_rep[rows], fault) for block in chosen], axis=1
    )
    coords = {
        **_presentation_coords(shared_ids[rows], min_reps_across_subjects=reps[rows]),
        **_neuroid_coords(neuroid_table(chosen)),
    }
    return xr.DataArray(
        values.astype(np.float32),
        dims=("presentation", "neuroid"),
        coords=coords,
        name=f"Allen2022_surface.{region}",
    )


def brainscore_values(block, complete, rows, fault):
    """Return the globally z-scored, NaN-filled train and test values of one block.

    Parameters
    ----------
    block : SurfaceBlock
        One subject's region vertices.
    complete : (n_images,) int array
        Rows of ``block.per_rep`` holding the images with 3 repetitions in every subject.
    rows : tuple of (train_rows, test_rows)
        Rows of ``complete`` in each assembly.
    fault : str or None
        Active fault.

    Returns
    -------
    train : (n_train, n) float array
    test : (n_test * 3, n) float array
        Image-major, three repetitions per image.
    """
    per_rep = block.per_rep[complete]
    averaged = surface_faults.repetition_mean(per_rep, fault)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        stats = averaged[faults.stats_rows(rows, fault)]
        mean = np.nanmean(stats, axis=0)
        std = np.nanstd(stats, axis=0)
    std[std == 0] = 1.0
    train = (averaged[rows[0]] - mean) / std
    test = (per_rep[rows[1]] - mean) / std
    train_style = (averaged[rows[1]] - mean) / std
    train, test = surface_faults.fill(train, test, train_style, fault)
    order = surface_faults.value_order(block.hemisphere, fault)
    return train[:, order], test.reshape(-1, test.shape[2])[:, order]


def brainscore_assemblies(blocks, nsd_ids, complete, rows, fault):
    """Return the Brain-Score surface train and test assemblies.

    Parameters
    ----------
    blocks : sequence of SurfaceBlock
        All blocks (any order).
    nsd_ids : (n_images,) int array
        Sorted 0-based NSD ids of the images with 3 repetitions in every subject.
    complete : (n_images,) int array
        Their rows among the shared images.
    rows : tuple of (train_rows, test_rows)
        Rows of ``nsd_ids`` in each assembly.
    fault : str or None
        Active fault.

    Returns
    -------
    train, test : xarray.DataArray
        Dims (presentation, neuroid, time_bin).
    """
    ordered = surface_faults.block_order(blocks, list(REGIONS), fault)
    parts = [brainscore_values(block, complete, rows, fault) for block in ordered]
    coords = _neuroid_coords(neuroid_table(ordered, fault, brainscore=True))
    n_test = rows[1].size
    content = {
        "train": (np.concatenate([p[0] for p in parts], axis=1), nsd_ids[rows[0]], {}),
        "test": (
            np.concatenate([p[1] for p in parts], axis=1),
            np.repeat(nsd_ids[rows[1]], 3),
            {"repetition": np.tile([0, 1, 2], n_test)},
        ),
    }
    arrays = []
    for split, (values, ids, extra) in content.items():
        all_coords = {**_presentation_coords(ids, **extra), **coords}
        all_coords["time_bin_start"] = ("time_bin", np.array([packager.TIME_BIN[0]], np.int64))
        all_coords["time_bin_end"] = ("time_bin", np.array([packager.TIME_BIN[1]], np.int64))
        arrays.append(
            xr.DataArray(
                values[:, :, np.newaxis].astype(np.float32),
                dims=("presentation", "neuroid", "time_bin"),
                coords=all_coords,
                name=f"Allen2022_fmri_surface_{split}",
            )
        )
    return tuple(arrays)


def write_benchmark(folder, assemblies, acts, fault, name="Allen2022_fmri_surface"):
    """Write each region's activations, ``score.json`` and ``score_rdm.json``.

    :func:`nsdval.synth.packager.write_benchmark` on the assemblies as packaged; returns its
    scores. With ``surface-nan-not-filled`` they are scored after NaN -> 0 (a ridge cannot
    fit NaN), which leaves both score files as they are without the fault.
    """
    if fault == "surface-nan-not-filled":
        assemblies = tuple(array.fillna(0.0) for array in assemblies)
    return packager.write_benchmark(folder, assemblies, acts, name)
