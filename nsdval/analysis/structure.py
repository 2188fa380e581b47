"""The computations behind ``assembly_structure.ipynb``: structure of the whole assemblies.

The run-wide inputs, dims and shapes, neuroid order, identifiers and repetitions, checked
once per run over all subjects and regions; what the assemblies hold (the split, values,
region assemblies) is :mod:`nsdval.analysis.contents`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nsdval.analysis import checks, extraction
from nsdval.data import assemblies
from nsdval.data.expdesign import load_expdesign
from nsdval.data.layout import REGIONS, detect_layout
from nsdval.data.spaces import open_space

SHAPES = "1. Shapes and dims"
ORDER = "2. Neuroid order"
IDS = "3. Identifiers"
BENCHMARK = "7. Benchmark per region"


@dataclass(frozen=True)
class RunInputs:
    """The run-wide inputs of the structure report, loaded once."""

    layout: object
    space: object
    design: object
    train: object
    test: object
    split_table: object
    reference_ids: np.ndarray
    region_assemblies: dict
    region_images: np.ndarray


def load_run_inputs(*, nsd_root, variant, regions, space="volume", **overrides):
    """Load the tree's design, split, Brain-Score and region assemblies."""
    overrides = {key: value for key, value in overrides.items() if value}
    layout = detect_layout(nsd_root, variant, space=space, **overrides)
    space = open_space(layout)
    design = load_expdesign(layout.expdesign())
    train = assemblies.load_brainscore_assembly(layout, "train", space.unit_coords)
    test = assemblies.load_brainscore_assembly(layout, "test", space.unit_coords)
    reference_ids = extraction.reference_images(space, design, assemblies.assembly_subjects(train))
    shared = np.sort(np.asarray(design.sharedix, dtype=np.int64) - 1)
    return RunInputs(
        layout=layout,
        space=space,
        design=design,
        train=train,
        test=test,
        split_table=assemblies.load_split(layout.split_csv()),
        reference_ids=reference_ids,
        region_assemblies={r: assemblies.load_region_assembly(layout, r) for r in regions},
        region_images=shared if space.region_assemblies_hold_shared else reference_ids,
    )


def parse_regions(text):
    """Split a comma-separated region list.

    Examples
    --------
    >>> parse_regions("V1, V4")
    ['V1', 'V4']
    """
    return [part.strip() for part in str(text).split(",") if part.strip()]


def runs(values):
    """Distinct values in order of first appearance of each contiguous run.

    Examples
    --------
    >>> runs(np.array(["a", "a", "b", "a"])).tolist()
    ['a', 'b', 'a']
    """
    values = np.asarray(values)
    if values.size == 0:
        return values
    starts = np.concatenate([[True], values[1:] != values[:-1]])
    return values[starts]


def shape_checks(train, test):
    """Dims, the single time bin and the test set size."""
    n_test_images = np.unique(test["nsd_id"].values).size
    dims = ("presentation", "neuroid", "time_bin")
    return [
        checks.equality_check(
            section=SHAPES,
            name="dims",
            expected=[dims, dims],
            actual=[tuple(train.dims), tuple(test.dims)],
            what="dims (train, test)",
        ),
        checks.condition_check(
            section=SHAPES,
            name="time-bin",
            ok=train.sizes["time_bin"] == 1 == test.sizes["time_bin"]
            and "time_bin_start" in train.coords
            and "time_bin_end" in train.coords,
            value=int(train.sizes["time_bin"]),
            threshold=1,
            detail=f"time_bin sizes {train.sizes['time_bin']} / {test.sizes['time_bin']}",
        ),
        checks.equality_check(
            section=SHAPES,
            name="test-size",
            expected=[3 * n_test_images],
            actual=[test.sizes["presentation"]],
            what="test presentations (3 per image)",
        ),
    ]


def order_checks(train, regions=REGIONS, *, major="subject"):
    """The neuroid order: subject-major (volume) or region-major (surface, ``major="region"``).

    Subject-major: contiguous subjects, regions in order within each, subjects in order.
    Region-major: contiguous regions in order, subjects in order within each region.
    """
    subjects = np.asarray(train["subject"].values).astype(str)
    region_of = np.asarray(train["region"].values).astype(str)
    region_bad = [
        s
        for s in np.unique(subjects)
        if runs(region_of[subjects == s]).tolist() != _canonical(region_of[subjects == s], regions)
    ]
    subject_bad = [
        r
        for r in np.unique(region_of)
        if runs(subjects[region_of == r]).tolist() != sorted(set(subjects[region_of == r]))
    ]
    if major == "region":
        return region_major_checks(region_of, regions, region_bad, subject_bad)
    subject_runs = runs(subjects)
    return [
        checks.condition_check(
            section=ORDER,
            name="subject-contiguity",
            ok=len(subject_runs) == len(set(subject_runs)),
            value=len(subject_runs),
            threshold=len(set(subject_runs)),
            detail=f"subject blocks in order: {', '.join(subject_runs[:12])}",
        ),
        checks.condition_check(
            section=ORDER,
            name="region-order",
            ok=not region_bad,
            value=len(region_bad),
            threshold=0,
            detail=f"regions out of {'/'.join(regions)} order in: {region_bad}"
            if region_bad
            else f"every subject lists its regions as {'/'.join(regions)}",
        ),
        checks.condition_check(
            section=ORDER,
            name="subject-order",
            ok=not subject_bad and subject_runs.tolist() == sorted(set(subject_runs)),
            value=len(subject_bad),
            threshold=0,
            detail=f"subjects out of order in regions: {subject_bad}"
            if subject_bad
            else "subjects sorted within every region and overall",
        ),
    ]


def region_major_checks(region_of, regions, region_bad, subject_bad):
    """Region-major order: contiguous regions in order, subjects sorted within each."""
    region_runs = runs(region_of)
    in_order = region_runs.tolist() == _canonical(region_of, regions)
    return [
        checks.condition_check(
            section=ORDER,
            name="region-contiguity",
            ok=len(region_runs) == len(set(region_runs)),
            value=len(region_runs),
            threshold=len(set(region_runs)),
            detail=f"region blocks in order: {', '.join(region_runs[:12])}",
        ),
        checks.condition_check(
            section=ORDER,
            name="region-order",
            ok=in_order and not region_bad,
            value=len(region_bad) + (not in_order),
            threshold=0,
            detail=f"regions out of {'/'.join(regions)} order: {region_runs.tolist()[:12]}"
            if not in_order or region_bad
            else f"region blocks in {'/'.join(regions)} order",
        ),
        checks.condition_check(
            section=ORDER,
            name="subject-order",
            ok=not subject_bad,
            value=len(subject_bad),
            threshold=0,
            detail=f"subjects out of order in regions: {subject_bad}"
            if subject_bad
            else "subjects sorted within every region",
        ),
    ]


def _canonical(present, regions):
    present = set(present.tolist())
    return [r for r in regions if r in present] + sorted(present - set(regions))


def identifier_checks(train, test, space):
    """Neuroid ids well formed and unique; train and test share the neuroid order.

    ``space`` (a :class:`~nsdval.data.space.DataSpace`) knows the id format and the
    coordinates of a neuroid's unit.
    """
    ids = np.asarray(train["neuroid_id"].values).astype(str)
    expected = space.expected_neuroid_ids(train)
    same = [
        c
        for c in (*assemblies.BRAINSCORE_NEUROID_COORDS, *space.unit_coords)
        if not _same_values(train[c].values, test[c].values)
    ]
    return [
        checks.equality_check(
            section=IDS,
            name="neuroid-id-format",
            expected=expected,
            actual=ids,
            what="neuroid ids",
        ),
        checks.condition_check(
            section=IDS,
            name="neuroid-id-unique",
            ok=np.unique(ids).size == ids.size,
            value=int(ids.size - np.unique(ids).size),
            threshold=0,
            detail=f"{np.unique(ids).size} distinct ids for {ids.size} neuroids",
        ),
        checks.condition_check(
            section=IDS,
            name="train-test-neuroids",
            ok=not same,
            value=len(same),
            threshold=0,
            detail=f"neuroid coordinates that differ between train and test: {same}"
            if same
            else "train and test share every neuroid coordinate, in order",
        ),
        *[_stimulus_check(a, name) for a, name in ((train, "train"), (test, "test"))],
    ]


def _same_values(a, b):
    """Equal arrays, NaN equal to NaN (the surface keeps NaN in ``nc_testset``)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        return np.array_equal(a, b, equal_nan=True)
    return np.array_equal(a, b)


def _stimulus_check(array, name):
    expected = [f"nsd_{int(i):05d}" for i in array["nsd_id"].values]
    return checks.equality_check(
        section=IDS,
        name=f"{name}-stimulus-id",
        expected=expected,
        actual=np.asarray(array["stimulus_id"].values).astype(str),
        what="stimulus ids",
    )


def repetition_checks(train, test):
    """Presentations sorted by nsd_id; test image-major with repetitions 0, 1, 2."""
    nsd = np.asarray(test["nsd_id"].values, dtype=np.int64)
    reps = np.asarray(test["repetition"].values, dtype=np.int64)
    n_images = np.unique(nsd).size
    expected_reps = np.tile(np.arange(3), n_images)
    expected_nsd = np.repeat(np.unique(nsd), 3)
    train_ids = np.asarray(train["nsd_id"].values, dtype=np.int64)
    return [
        checks.condition_check(
            section=IDS,
            name="train-sorted",
            ok=bool(np.all(np.diff(train_ids) > 0)),
            detail="train presentations strictly increasing in nsd_id",
        ),
        checks.equality_check(
            section=IDS,
            name="test-image-major",
            expected=expected_nsd,
            actual=nsd,
            what="test nsd ids (image-major, sorted)",
        ),
        checks.equality_check(
            section=IDS,
            name="test-repetitions",
            expected=expected_reps,
            actual=reps,
            what="repetition values (0, 1, 2 per image)",
        ),
    ]


def neuroid_counts(train):
    """Neuroids per subject (rows) and region (columns)."""
    frame = pd.DataFrame(
        {
            "subject": np.asarray(train["subject"].values).astype(str),
            "region": np.asarray(train["region"].values).astype(str),
        }
    )
    counts = frame.value_counts().unstack(fill_value=0)
    ordered = [r for r in REGIONS if r in counts.columns]
    return counts[ordered + sorted(set(counts.columns) - set(ordered))]
