"""The computations behind ``assembly_structure.ipynb``: structure of the whole assemblies.

The run-wide inputs, dims and shapes, neuroid order, identifiers and repetitions, checked
once per run over all subjects and regions; what the assemblies hold (the split, values,
region assemblies) is :mod:`nsdval.analysis.contents`.
"""

from __future__ import annotations

import re
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

NEUROID_ID = re.compile(r"^(subj\d{2})_([A-Za-z0-9]+)_v(\d{4,})$")


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


def load_run_inputs(*, nsd_root, variant, regions, **overrides):
    """Load the tree's design, split, Brain-Score and region assemblies."""
    overrides = {key: value for key, value in overrides.items() if value}
    layout = detect_layout(nsd_root, variant, **overrides)
    space = open_space(layout)
    design = load_expdesign(layout.expdesign())
    train = assemblies.load_brainscore_assembly(layout, "train", space.unit_coords)
    test = assemblies.load_brainscore_assembly(layout, "test", space.unit_coords)
    return RunInputs(
        layout=layout,
        space=space,
        design=design,
        train=train,
        test=test,
        split_table=assemblies.load_split(layout.split_csv()),
        reference_ids=extraction.reference_images(
            space, design, assemblies.assembly_subjects(train)
        ),
        region_assemblies={r: assemblies.load_region_assembly(layout, r) for r in regions},
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


def order_checks(train, regions=REGIONS):
    """Subject-major neuroid order: contiguous subjects, regions in order, subjects in order."""
    subjects = np.asarray(train["subject"].values).astype(str)
    region_of = np.asarray(train["region"].values).astype(str)
    subject_runs = runs(subjects)
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


def _canonical(present, regions):
    present = set(present.tolist())
    return [r for r in regions if r in present] + sorted(present - set(regions))


def expected_neuroid_ids(subjects, regions):
    """``subjSS_REGION_vIIII`` ids counting within each (subject, region) block."""
    frame = pd.DataFrame({"s": subjects, "r": regions})
    counter = frame.groupby(["s", "r"], sort=False).cumcount().to_numpy()
    return np.array(
        [f"{s}_{r}_v{i:04d}" for s, r, i in zip(subjects, regions, counter, strict=True)]
    )


def identifier_checks(train, test, unit_coords):
    """Neuroid ids well formed and unique; train and test share the neuroid order.

    ``unit_coords`` are the space's coordinates of a neuroid's unit (``voxel_x``, ...).
    """
    ids = np.asarray(train["neuroid_id"].values).astype(str)
    expected = expected_neuroid_ids(
        np.asarray(train["subject"].values).astype(str),
        np.asarray(train["region"].values).astype(str),
    )
    same = [
        c
        for c in (*assemblies.BRAINSCORE_NEUROID_COORDS, *unit_coords)
        if not np.array_equal(np.asarray(train[c].values), np.asarray(test[c].values))
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
