"""What the whole assemblies hold (``assembly_structure.ipynb``): split, values, region assemblies.

The train/test split against Brain-Score's rule, value sanity (finite, train and test on one
scale) and each region assembly against the Brain-Score assemblies and the design; the
structure around them (dims, order, identifiers) is :mod:`nsdval.analysis.structure`.
"""

from __future__ import annotations

import numpy as np

from nsdval.analysis import chain, checks
from nsdval.data import assemblies

SPLIT = "4. Train/test split"
VALUES = "5. Values"
REGION_ASSEMBLIES = "6. Region assemblies"


def split_checks(train, test, split_table, reference_ids, *, seed=42):
    """Split equal to the CSV and to Brain-Score's RandomState recomputation."""
    train_ids = np.unique(np.asarray(train["nsd_id"].values, dtype=np.int64))
    test_ids = np.unique(np.asarray(test["nsd_id"].values, dtype=np.int64))
    csv_train = np.sort(split_table.loc[split_table["split"] == "train", "nsd_id"].to_numpy())
    csv_test = np.sort(split_table.loc[split_table["split"] == "test", "nsd_id"].to_numpy())
    everything = np.sort(split_table["nsd_id"].to_numpy())
    seed_train, seed_test = chain.split_indices(everything.size, seed=seed)
    overlap = np.intersect1d(train_ids, test_ids)
    return [
        checks.equality_check(
            section=SPLIT,
            name="train-matches-csv",
            expected=csv_train,
            actual=train_ids,
            what="train image ids",
        ),
        checks.equality_check(
            section=SPLIT,
            name="test-matches-csv",
            expected=csv_test,
            actual=test_ids,
            what="test image ids",
        ),
        checks.condition_check(
            section=SPLIT,
            name="split-disjoint",
            ok=overlap.size == 0,
            value=int(overlap.size),
            threshold=0,
            detail=f"{overlap.size} images in both train and test"
            + (f" (first nsd_id {overlap[0]})" if overlap.size else ""),
        ),
        checks.equality_check(
            section=SPLIT,
            name="split-complete",
            expected=reference_ids,
            actual=np.union1d(train_ids, test_ids),
            what="image ids (vs images shown 3x to every subject)",
        ),
        checks.equality_check(
            section=SPLIT,
            name="split-seed",
            expected=everything[seed_train],
            actual=csv_train,
            what=f"CSV train ids (vs RandomState({seed}) recomputation)",
        ),
        checks.equality_check(
            section=SPLIT,
            name="csv-test-seed",
            expected=everything[seed_test],
            actual=csv_test,
            what=f"CSV test ids (vs RandomState({seed}) recomputation)",
        ),
    ]


def value_checks(train, test, *, nan_nc=False):
    """Finite float32 values and noise ceilings in percent (NaN allowed with ``nan_nc``)."""
    nc = np.asarray(train["nc_testset"].values, dtype=np.float64)
    results = []
    for array, name in ((train, "train"), (test, "test")):
        values = array.values
        results.append(finite_check(values, section=VALUES, name=f"{name}-finite"))
        results.append(
            checks.condition_check(
                section=VALUES,
                name=f"{name}-float32",
                ok=values.dtype == np.float32,
                value=str(values.dtype),
                threshold="float32",
                detail=f"dtype {values.dtype}",
            )
        )
    inside = (np.isfinite(nc) & (nc >= 0) & (nc <= 100)) | (nan_nc & np.isnan(nc))
    results.append(
        checks.condition_check(
            section=VALUES,
            name="nc-testset-range",
            ok=bool(inside.all()),
            value=int((~inside).sum()),
            threshold=0,
            detail=f"nc_testset in [{np.nanmin(nc):.2f}, {np.nanmax(nc):.2f}] percent"
            + (f", {int(np.isnan(nc).sum())} NaN (kept by the packaging)" if nan_nc else ""),
        )
    )
    return results


def finite_check(values, *, section, name, nan_allowed=False):
    """A check that an assembly holds no NaN or Inf value (no Inf with ``nan_allowed``).

    Examples
    --------
    >>> finite_check(np.array([1.0, np.nan, np.inf]), section="5. Values", name="x").detail
    '2 NaN or Inf values among 3'
    >>> finite_check(np.array([1.0, np.nan]), section="5", name="x", nan_allowed=True).status
    'pass'
    """
    values = np.asarray(values)
    bad = int(np.count_nonzero(np.isinf(values) if nan_allowed else ~np.isfinite(values)))
    detail = f"{bad} NaN or Inf values among {values.size}"
    if nan_allowed:
        n_nan = int(np.count_nonzero(np.isnan(values)))
        detail = f"{bad} Inf values among {values.size}; {n_nan} NaN, kept by the packaging"
    return checks.condition_check(
        section=section, name=name, ok=bad == 0, value=bad, threshold=0, detail=detail
    )


def region_assembly_checks(region_asm, train, region, reference_ids, space):
    """Region assembly: same images as the design, same units as the Brain-Score region.

    ``reference_ids`` are the images it must hold; ``space`` (a
    :class:`~nsdval.data.space.DataSpace`) names the unit coordinates and whether the
    region assemblies keep NaN.
    """
    unit_coords = space.unit_coords
    block = train.isel(neuroid=np.flatnonzero(assemblies.neuroid_mask(train, region=region)))
    coords = [c for c in ("subject", *unit_coords) if c in region_asm.coords]
    expected = np.column_stack([np.asarray(block[c].values).astype(str) for c in coords])
    actual = np.column_stack([np.asarray(region_asm[c].values).astype(str) for c in coords])
    return [
        checks.equality_check(
            section=REGION_ASSEMBLIES,
            name=f"{region}-images",
            expected=reference_ids,
            actual=np.sort(np.asarray(region_asm["nsd_id"].values, dtype=np.int64)),
            what=f"{region} region assembly image ids",
        ),
        checks.equality_check(
            section=REGION_ASSEMBLIES,
            name=f"{region}-neuroids",
            expected=expected if expected.shape == actual.shape else expected[:0],
            actual=actual,
            what=f"{region} neuroids ({', '.join(coords)})",
        ),
        finite_check(
            region_asm.values,
            section=REGION_ASSEMBLIES,
            name=f"{region}-finite",
            nan_allowed=space.betas_hold_nan,
        ),
    ]
