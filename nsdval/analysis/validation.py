"""The computations behind ``assembly_validation.ipynb``: one subject and one region.

Each ``*_checks`` function takes arrays already loaded and returns
:class:`~nsdval.analysis.checks.CheckResult` objects; the notebook narrates, records and
plots them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nsdval.analysis import cache, chain, checks, extraction
from nsdval.analysis.noiseceiling import formula
from nsdval.data import assemblies
from nsdval.data.expdesign import load_expdesign
from nsdval.data.layout import detect_layout, subject_label
from nsdval.data.spaces import open_space

SECTION_1 = "1. Region assembly -> Brain-Score"
SECTION_2 = "2. Raw betas bypass"
SECTION_3 = "3. Benchmark"


@dataclass(frozen=True)
class SubjectRegion:
    """Everything one (subject, region) report reads, loaded once.

    Attributes
    ----------
    layout : NsdLayout
    space : DataSpace
        The tree's raw files.
    design : ExpDesign
    subject : int
    label : str
        ``subjSS``.
    region : str
    reference_ids : (n_images,) int64 array
        Images shown three times to every subject, from the design and session counts.
    region_block : xarray.DataArray
        This subject's neuroids of the region assembly.
    train_block, test_block : xarray.DataArray
        This subject's neuroids of the region in the Brain-Score assemblies.
    """

    layout: object
    space: object
    design: object
    subject: int
    label: str
    region: str
    reference_ids: np.ndarray
    region_block: object
    train_block: object
    test_block: object


def load_subject_region(*, nsd_root, subject, region, variant, space="volume", **overrides):
    """Load the tree, design and assembly blocks of one subject and region (of ``space``)."""
    layout = detect_layout(nsd_root, variant, space=space, **_folder_overrides(overrides))
    space = open_space(layout)
    design = load_expdesign(layout.expdesign())
    label = subject_label(subject)
    block = {"subject": label, "region": region}
    train = assemblies.load_brainscore_assembly(layout, "train", space.unit_coords, **block)
    test = assemblies.load_brainscore_assembly(layout, "test", space.unit_coords, **block)
    return SubjectRegion(
        layout=layout,
        space=space,
        design=design,
        subject=int(subject),
        label=label,
        region=region,
        reference_ids=extraction.reference_images(
            space, design, assemblies.read_assembly_subjects(layout.brainscore_assembly("train"))
        ),
        region_block=assemblies.load_region_assembly(layout, region, subject=label),
        train_block=train,
        test_block=test,
    )


def _folder_overrides(overrides):
    return {key: value for key, value in overrides.items() if value}


def block_rows(block, ids):
    """Rows of ``block`` for sorted ``ids`` (NaN rows where an id is missing)."""
    values = assemblies.values_2d(block)
    pos = assemblies.row_positions(ids, np.sort(block["nsd_id"].values))
    order = np.argsort(block["nsd_id"].values)
    out = np.full((len(ids), values.shape[1]), np.nan)
    out[pos >= 0] = values[order][pos[pos >= 0]]
    return out


def split_ids(block):
    """Sorted NSD ids of a Brain-Score block's presentations (unique)."""
    return np.unique(np.asarray(block["nsd_id"].values, dtype=np.int64))


# --- Section 1 -----------------------------------------------------------------------------
@dataclass(frozen=True)
class GlobalZ:
    """The global z-score reproduced from the region assembly, aligned to the Brain-Score rows."""

    train_ids: np.ndarray
    test_ids: np.ndarray
    train_reproduced: np.ndarray
    train_assembly: np.ndarray
    test_reproduced: np.ndarray
    test_assembly_mean: np.ndarray
    filled: np.ndarray
    """Test cells with a repetition stored as exactly 0: NaN filled on its own (surface)."""


def reproduce_global_z(sr):
    """Global z-score of the region assembly block, split like the Brain-Score assemblies.

    Where the region assemblies hold every shared image (surface), the statistics are over
    the Brain-Score images only, NaN-aware, and NaN is written as 0, as that packaging does.
    """
    train_ids, test_ids = split_ids(sr.train_block), split_ids(sr.test_block)
    ids = np.sort(np.asarray(sr.region_block["nsd_id"].values, dtype=np.int64))
    if sr.space.region_assemblies_hold_shared:
        ids = np.union1d(train_ids, test_ids)
    averaged = block_rows(sr.region_block, ids)
    z, _ = chain.global_zscore(averaged, averaged[None], skipna=sr.space.betas_hold_nan)
    test_reps = assemblies.repetition_values(sr.test_block, test_ids)
    filled = (
        (test_reps == 0).any(axis=0) if sr.space.betas_hold_nan else test_reps[0] != test_reps[0]
    )
    return GlobalZ(
        train_ids=train_ids,
        test_ids=test_ids,
        train_reproduced=_take(z, ids, train_ids),
        train_assembly=block_rows(sr.train_block, train_ids),
        test_reproduced=_take(z, ids, test_ids),
        test_assembly_mean=test_reps.mean(axis=0),
        filled=np.asarray(filled, dtype=bool),
    )


def _take(values, ids, wanted):
    pos = assemblies.row_positions(wanted, ids)
    out = np.full((len(wanted), values.shape[1]), np.nan)
    out[pos >= 0] = values[pos[pos >= 0]]
    return out


def global_z_checks(gz, *, tolerance):
    """Checks of section 1: region assembly -> global z-score -> Brain-Score values.

    Test cells whose repetitions were filled one by one (:attr:`GlobalZ.filled`) are left
    out of ``test-mean-values`` and counted by ``test-nan-filled`` (a warning when their
    mean differs from the train-style value, as the surface packaging makes it).
    """
    outside = np.where(gz.filled, np.nan, gz.test_reproduced)
    actual = np.where(gz.filled, np.nan, gz.test_assembly_mean)
    results = [
        checks.difference_check(
            section=SECTION_1,
            name="train-values",
            reproduced=gz.train_reproduced,
            actual=gz.train_assembly,
            tolerance=tolerance,
        ),
        checks.difference_check(
            section=SECTION_1,
            name="test-mean-values",
            reproduced=outside,
            actual=actual,
            tolerance=tolerance,
            equal_nan=bool(gz.filled.any()),
        ),
    ]
    if gz.filled.any():
        results.append(filled_cells_check(gz, tolerance=tolerance))
    return results


def filled_cells_check(gz, *, tolerance):
    """Warn with the count of test cells where per-repetition filling moved the mean."""
    moved = gz.filled & (np.abs(gz.test_reproduced - gz.test_assembly_mean) > tolerance)
    n_moved, n_filled = int(moved.sum()), int(gz.filled.sum())
    return checks.CheckResult(
        SECTION_1,
        "test-nan-filled",
        "warn" if n_moved else "pass",
        n_moved,
        0,
        f"{n_filled} test cells hold a repetition filled with 0 (NaN in the betas); in "
        f"{n_moved} the mean of the stored repetitions differs from the train-style value",
    )


def correlation(a, b):
    """Pearson correlation of two arrays' finite entries, flattened."""
    a, b = np.ravel(a), np.ravel(b)
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 2 or np.std(a[keep]) == 0 or np.std(b[keep]) == 0:
        return float("nan")
    return float(np.corrcoef(a[keep], b[keep])[0, 1])


# --- Section 2 -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Bypass:
    """The region rebuilt from raw betas, through every stage of the chain."""

    ext: extraction.RegionExtraction
    averaged: np.ndarray
    global_z: np.ndarray
    reps_z: np.ndarray
    nc_testset: np.ndarray


def run_bypass(sr, cache_dir=""):
    """Rebuild this subject's region from the raw betas (or the run's extraction cache)."""
    ext = cache.region_extraction(
        sr.space, sr.design, sr.subject, sr.region, sr.reference_ids, cache_dir or None
    )
    skipna = sr.space.betas_hold_nan
    averaged = chain.mean_over_repetitions(ext.session_z, skipna=skipna)
    global_z, reps_z = chain.global_zscore(averaged, ext.session_z, skipna=skipna)
    nc = formula.noise_ceiling_percent(ext.ncsnr, nan_to_zero=not skipna)
    return Bypass(ext, averaged, global_z, reps_z, nc)


def bypass_checks(sr, bp, *, tolerance, nc_tolerance):
    """Checks of section 2: raw betas -> every Brain-Score value of this subject and region."""
    units = sr.space.assembly_units(sr.train_block)
    return [
        *bypass_count_checks(sr, bp.ext, units),
        *bypass_value_checks(sr, bp, tolerance=tolerance),
        checks.difference_check(
            section=SECTION_2,
            name="nc-testset",
            reproduced=bp.nc_testset,
            actual=np.asarray(sr.train_block["nc_testset"].values, dtype=np.float64)
            if units.shape[0] == len(bp.ext.coords)
            else np.zeros(0),
            tolerance=nc_tolerance,
            what="noise ceilings (percent)",
            equal_nan=sr.space.betas_hold_nan,
        ),
    ]


def bypass_count_checks(sr, ext, units):
    """Trials, images and units of the extraction against the design and the assembly.

    The unit checks are named for the space's unit: ``voxel-count`` and ``voxel-coords`` in
    the volume, ``vertex-count`` and ``vertex-coords`` on the surface.
    """
    n_images = ext.nsd_ids.size
    unit = sr.space.unit
    train_ids, test_ids = split_ids(sr.train_block), split_ids(sr.test_block)
    return [
        checks.condition_check(
            section=SECTION_2,
            name="trial-count",
            ok=ext.trials.size == 3 * n_images and len(np.unique(ext.trials)) == ext.trials.size,
            value=int(ext.trials.size),
            threshold=3 * n_images,
            detail=f"{ext.trials.size} distinct trials for {n_images} images x 3 repetitions",
        ),
        checks.equality_check(
            section=SECTION_2,
            name="images-match-design",
            expected=ext.nsd_ids,
            actual=np.union1d(train_ids, test_ids),
            what="image ids",
        ),
        checks.condition_check(
            section=SECTION_2,
            name=f"{unit}-count",
            ok=units.shape[0] == len(ext.coords),
            value=int(units.shape[0]),
            threshold=len(ext.coords),
            detail=f"{units.shape[0]} neuroids in the assembly, {len(ext.coords)} {unit}s "
            "in the region",
        ),
        checks.equality_check(
            section=SECTION_2,
            name=f"{unit}-coords",
            expected=ext.coords if units.shape == ext.coords.shape else ext.coords[:0],
            actual=units,
            what=f"{unit} coordinates ({', '.join(sr.space.unit_coords)})",
        ),
    ]


def bypass_value_checks(sr, bp, *, tolerance):
    """The rebuilt values against the region assembly, train, and every test repetition."""
    ext = bp.ext
    train_ids, test_ids = split_ids(sr.train_block), split_ids(sr.test_block)
    results = [
        checks.difference_check(
            section=SECTION_2,
            name="region-assembly-values",
            reproduced=bp.averaged,
            actual=block_rows(sr.region_block, ext.nsd_ids),
            tolerance=tolerance,
            equal_nan=sr.space.betas_hold_nan,
        ),
        checks.difference_check(
            section=SECTION_2,
            name="train-values",
            reproduced=_pick(bp.global_z, assemblies.row_positions(train_ids, ext.nsd_ids)),
            actual=block_rows(sr.train_block, train_ids),
            tolerance=tolerance,
        ),
    ]
    test_rows = assemblies.row_positions(test_ids, ext.nsd_ids)
    test_reps = assemblies.repetition_values(sr.test_block, test_ids)
    for rep in range(test_reps.shape[0]):
        results.append(
            checks.difference_check(
                section=SECTION_2,
                name=f"test-rep{rep}-values",
                reproduced=_pick(bp.reps_z[rep], test_rows),
                actual=test_reps[rep],
                tolerance=tolerance,
            )
        )
    return results


def _pick(values, rows):
    out = np.full((len(rows), values.shape[1]), np.nan)
    out[rows >= 0] = values[rows[rows >= 0]]
    return out


def bypass_differences(sr, bp):
    """Bypass minus assembly values per stage, for plotting: label -> array.

    A stage whose arrays differ in shape (the assembly lists other units than the ROI, which
    ``voxel-count`` reports) is left out rather than stopping the report.
    """
    ext = bp.ext
    train_ids, test_ids = split_ids(sr.train_block), split_ids(sr.test_block)
    test_rows = assemblies.row_positions(test_ids, ext.nsd_ids)
    test_reps = assemblies.repetition_values(sr.test_block, test_ids)
    train_rows = assemblies.row_positions(train_ids, ext.nsd_ids)
    pairs = {
        "region assembly": (bp.averaged, block_rows(sr.region_block, ext.nsd_ids)),
        "train": (_pick(bp.global_z, train_rows), block_rows(sr.train_block, train_ids)),
    }
    for rep in range(test_reps.shape[0]):
        pairs[f"test rep {rep}"] = (_pick(bp.reps_z[rep], test_rows), test_reps[rep])
    return {label: a - b for label, (a, b) in pairs.items() if a.shape == b.shape}
