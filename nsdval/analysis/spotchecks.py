"""Spot checks of ``assembly_validation.ipynb``: random values traced through every stage.

Randomly chosen (image, unit) pairs of one subject's region, with the value at each stage of
the chain: raw percent signal change and session z-score of each repetition, their mean, the
global z-score, and the Brain-Score assembly value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nsdval.analysis import checks
from nsdval.analysis.validation import SECTION_2, block_rows, split_ids
from nsdval.data import assemblies


def spot_check_table(sr, bp, *, n_checks, seed, tolerance):
    """Trace randomly chosen (image, voxel) values through every stage of the chain.

    Returns
    -------
    pandas.DataFrame
        One row per traced value: stimulus, split, voxel, raw PSC and session z of each
        repetition, their mean, the global z and the assembly's value.
    """
    rng = np.random.default_rng(seed)
    ext = bp.ext
    train_ids, test_ids = split_ids(sr.train_block), split_ids(sr.test_block)
    train = block_rows(sr.train_block, train_ids)
    test_mean = assemblies.repetition_values(sr.test_block, test_ids).mean(axis=0)
    images = rng.choice(ext.nsd_ids.size, size=n_checks, replace=True)
    voxels = rng.choice(len(ext.coords), size=n_checks, replace=True)
    rows = [
        _spot_row(sr.space, bp, i, v, train_ids, test_ids, train, test_mean, tolerance)
        for i, v in zip(images, voxels, strict=True)
    ]
    return pd.DataFrame(rows)


def _spot_row(space, bp, image, voxel, train_ids, test_ids, train, test_mean, tolerance):
    ext = bp.ext
    nsd_id = ext.nsd_ids[image]
    in_train = nsd_id in set(train_ids.tolist())
    ids, values = (train_ids, train) if in_train else (test_ids, test_mean)
    pos = assemblies.row_positions([nsd_id], ids)[0]
    assembly = values[pos, voxel] if pos >= 0 else np.nan
    reproduced = bp.global_z[image, voxel]
    diff = abs(reproduced - assembly)
    row = {"stimulus_id": f"nsd_{nsd_id:05d}", "split": "train" if in_train else "test mean"}
    row["voxel"] = space.unit_label(ext.coords[voxel])
    for rep in range(ext.betas.shape[0]):
        row[f"raw PSC r{rep}"] = float(space.psc(ext.betas[rep, image, voxel]))
    for rep in range(ext.betas.shape[0]):
        row[f"session z r{rep}"] = float(ext.session_z[rep, image, voxel])
    row.update({"mean": bp.averaged[image, voxel], "global z": reproduced})
    row.update({"assembly": assembly, "|diff|": diff})
    row["status"] = "pass" if diff <= tolerance else "fail"
    return row


def spot_checks_result(table, *, tolerance):
    """One check summarising the spot-check table."""
    n_fail = int((table["status"] != "pass").sum())
    return checks.condition_check(
        section=SECTION_2,
        name="spot-checks",
        ok=n_fail == 0 and len(table) > 0,
        value=n_fail,
        threshold=0,
        detail=f"{len(table) - n_fail} of {len(table)} traced values within {tolerance:g}",
    )
