import numpy as np
import pandas as pd
import xarray as xr

from nsdval.analysis import structure
from nsdval.data.surface.space import SurfaceSpace
from nsdval.data.volume.space import VolumeSpace


def assembly(subjects, regions, n_images=4):
    n = len(subjects)
    frame = pd.DataFrame({"s": subjects, "r": regions})
    seen = {}
    ids = []
    for s, r in zip(subjects, regions, strict=True):  # the documented format, written out here
        ids.append(f"{s}_{r}_v{seen.setdefault((s, r), 0):04d}")
        seen[(s, r)] += 1
    return xr.DataArray(
        np.zeros((n_images, n, 1), dtype=np.float32),
        dims=("presentation", "neuroid", "time_bin"),
        coords={
            "subject": ("neuroid", frame["s"]),
            "region": ("neuroid", frame["r"]),
            "neuroid_id": ("neuroid", ids),
            "time_bin_start": ("time_bin", [70]),
            "time_bin_end": ("time_bin", [170]),
        },
    )


GOOD = (["subj01"] * 4 + ["subj02"] * 4, ["V1", "V1", "V4", "IT", "V1", "V2", "V4", "IT"])


def statuses(results):
    return {r.name: r.status for r in results}


def test_order_checks_pass_on_subject_major_order():
    assert set(statuses(structure.order_checks(assembly(*GOOD))).values()) == {"pass"}


def test_order_checks_name_what_broke():
    subjects, regions = GOOD
    swapped_regions = regions[:4] + ["V2", "V1", "V4", "IT"]
    res = statuses(structure.order_checks(assembly(subjects, swapped_regions)))
    assert res["region-order"] == "fail" and res["subject-order"] == "pass"
    swapped_subjects = ["subj02"] * 4 + ["subj01"] * 4
    res = statuses(structure.order_checks(assembly(swapped_subjects, regions)))
    assert res["subject-order"] == "fail" and res["subject-contiguity"] == "pass"
    interleaved = ["subj01", "subj02"] * 4
    res = statuses(structure.order_checks(assembly(interleaved, ["V1"] * 8)))
    assert res["subject-contiguity"] == "fail"


def test_expected_neuroid_ids_count_within_subject_and_region():
    ids = VolumeSpace(None).expected_neuroid_ids(assembly(*GOOD))
    assert ids[:4].tolist() == [
        "subj01_V1_v0000",
        "subj01_V1_v0001",
        "subj01_V4_v0000",
        "subj01_IT_v0000",
    ]


def test_identifier_checks_catch_a_bad_neuroid_id():
    train = assembly(*GOOD)
    train = train.assign_coords(
        nsd_id=("presentation", [1, 2, 3, 4]),
        stimulus_id=("presentation", ["nsd_00001", "nsd_00002", "nsd_00003", "nsd_00004"]),
    )
    for name in ("nc_testset", "voxel_x", "voxel_y", "voxel_z"):
        train = train.assign_coords({name: ("neuroid", np.zeros(8))})
    ids = train["neuroid_id"].values.copy()
    ids[3] = "subj01_IT_v0007"
    bad = train.assign_coords(neuroid_id=("neuroid", ids))
    res = statuses(structure.identifier_checks(bad, train, VolumeSpace(None)))
    assert res["neuroid-id-format"] == "fail"
    assert res["train-test-neuroids"] == "fail"
    assert res["train-stimulus-id"] == "pass"
    assert statuses(structure.identifier_checks(train, train, VolumeSpace(None))) == {
        name: "pass" for name in res
    }
    moved = train.assign_coords(voxel_z=("neuroid", np.arange(8)))  # a unit coordinate only
    res = statuses(structure.identifier_checks(moved, train, VolumeSpace(None)))
    assert res["train-test-neuroids"] == "fail" and res["neuroid-id-format"] == "pass"


def test_neuroid_counts_table_orders_regions():
    counts = structure.neuroid_counts(assembly(*GOOD))
    assert counts.columns.tolist() == ["V1", "V2", "V4", "IT"]
    assert counts.loc["subj01"].tolist() == [2, 0, 1, 1]


def test_surface_ids_name_the_hemisphere_and_count_across_both():
    surface = assembly(["subj01"] * 3, ["V1"] * 3).assign_coords(
        hemisphere=("neuroid", ["lh", "lh", "rh"])
    )
    assert SurfaceSpace(None).expected_neuroid_ids(surface).tolist() == [
        "subj01_lh_V1_v00000",
        "subj01_lh_V1_v00001",
        "subj01_rh_V1_v00002",
    ]


def test_region_major_order_is_checked_for_the_surface():
    subjects = ["subj01", "subj02", "subj01", "subj02"]
    good = statuses(
        structure.order_checks(assembly(subjects, ["V1", "V1", "V4", "V4"]), major="region")
    )
    assert good == {"region-contiguity": "pass", "region-order": "pass", "subject-order": "pass"}
    volume_rules = statuses(structure.order_checks(assembly(subjects, ["V1", "V1", "V4", "V4"])))
    assert volume_rules["subject-contiguity"] == "fail"  # the same order breaks the volume's
    swapped = assembly(subjects, ["V4", "V4", "V1", "V1"])
    assert statuses(structure.order_checks(swapped, major="region"))["region-order"] == "fail"
    unsorted = assembly(["subj02", "subj01", "subj01", "subj02"], ["V1", "V1", "V4", "V4"])
    assert statuses(structure.order_checks(unsorted, major="region"))["subject-order"] == "fail"
