"""The 4-subject variant of the synthetic tree: images, split, global z, nc, faults."""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.io
import xarray as xr

from nsdval.errors import ParameterError
from nsdval.synth import VARIANT_FAULTS, synthesize
from nsdval.synth.variant import parse_variants

# demo trees: the only preset with subjects 1, 2, 5 and 7, shared with test_families_run
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo_trees")]

FOUR = (1, 2, 5, 7)


@pytest.fixture(scope="module")
def both(demo_every_family):
    return demo_every_family


def _load(path):
    with xr.open_dataarray(path, engine="h5netcdf") as array:
        return array.load()


def expected_images(root):
    """Shared images shown exactly 3 times to each of subjects 1, 2, 5, 7 (from the .mat)."""
    mat = scipy.io.loadmat(root / "metadata" / "nsd_expdesign.mat")
    order = mat["masterordering"].ravel()
    subjectim, shared = mat["subjectim"], mat["sharedix"].ravel()
    truth = json.loads((root / "synth.json").read_text())
    trials = truth["trials_per_session"]
    common = set(shared.tolist())
    for subject in FOUR:
        sessions = truth["subjects"][f"subj{subject:02d}"]["sessions"]
        shown = subjectim[subject - 1, order[: sessions * trials] - 1]
        ids, counts = np.unique(shown, return_counts=True)
        common &= set(ids[counts == 3].tolist())
    return np.array(sorted(common)) - 1


def expected_split(ids):
    order = np.arange(ids.size)
    np.random.RandomState(42).shuffle(order)
    n_train = int(0.8 * ids.size)
    return np.sort(ids[order[:n_train]]), np.sort(ids[order[n_train:]])


def test_parse_variants():
    assert parse_variants("both") == ("8subj", "4subj")
    assert parse_variants("4subj") == ("4subj",)
    with pytest.raises(ParameterError):
        parse_variants("6subj")


@pytest.mark.parametrize(
    ("preset", "variant", "fault"),
    [
        ("tiny", "4subj", None),
        ("full", "4subj", None),
        ("demo", "8subj", "4subj-8subj-split"),
        ("demo", "4subj", "ddof1"),
    ],
)
def test_refused(tmp_path, preset, variant, fault):
    with pytest.raises(ParameterError):
        synthesize(tmp_path / "t", preset=preset, variant=variant, fault=fault)
    assert not (tmp_path / "t").exists()


def test_images_and_split(both):
    ids = expected_images(both)
    table = pd.read_csv(both / "assemblies" / "train_test_split_4subj.csv")
    assert table["nsd_id"].tolist() == ids.tolist()
    train, test = expected_split(ids)
    assert table.loc[table["split"] == "train", "nsd_id"].tolist() == train.tolist()
    assert table.loc[table["split"] == "test", "nsd_id"].tolist() == test.tolist()
    eight = pd.read_csv(both / "assemblies" / "train_test_split_8subj.csv")
    assert ids.size > len(eight)  # the partial images join the 4-subject set
    for family in ("", "_surface"):
        path = both / f"brainscore{family}" / f"Allen2022_fmri{family}_train_4subj.nc"
        array = _load(path)
        assert array["nsd_id"].values.tolist() == train.tolist()
        assert sorted(set(array["subject"].values.tolist())) == [f"subj{s:02d}" for s in FOUR]


def test_global_zscore_over_all_images(both):
    region = _load(both / "assemblies" / "Allen2022.V1_4subj.nc")
    train = _load(both / "brainscore" / "Allen2022_fmri_train_4subj.nc").isel(time_bin=0)
    values = region.values.astype(np.float64)
    z = (values - values.mean(axis=0)) / values.std(axis=0)
    rows = np.isin(region["nsd_id"].values, train["nsd_id"].values)
    columns = train["region"].values == "V1"
    np.testing.assert_allclose(train.values[:, columns], z[rows], atol=1e-4)


def test_nc_testset_is_the_8subj_value(both):
    for family, keys in (
        ("", ["voxel_x", "voxel_y", "voxel_z"]),
        ("_surface", ["hemisphere", "vertex_index"]),
    ):
        tables = {}
        for variant in ("8subj", "4subj"):
            path = both / f"brainscore{family}" / f"Allen2022_fmri{family}_train_{variant}.nc"
            array = _load(path)
            tables[variant] = pd.DataFrame(
                {k: array[k].values for k in ["subject", "region", *keys, "nc_testset"]}
            )
        merged = tables["4subj"].merge(tables["8subj"], on=["subject", "region", *keys])
        assert len(merged) == len(tables["4subj"])
        np.testing.assert_array_equal(merged["nc_testset_x"], merged["nc_testset_y"])


def test_benchmark_folders(both):
    for folder, name in (
        ("benchmark_4subj", "Allen2022_fmri_4subj"),
        ("benchmark_surface_4subj", "Allen2022_fmri_surface_4subj"),
    ):
        report = json.loads((both / folder / "V4" / "score.json").read_text())
        assert report["benchmark"] == f"{name}.V4-ridge"
        assert set(report["subjects"]) == {f"subj{s:02d}" for s in FOUR}
    assert (both / "benchmark" / "V4" / "score.json").is_file()


def test_fault_8subj_split(four_subject_fault_tree):
    root = four_subject_fault_tree("4subj-8subj-split")
    ids = expected_images(root)
    table = pd.read_csv(root / "assemblies" / "train_test_split_4subj.csv")
    assert table["nsd_id"].tolist() == ids.tolist()
    assert (
        table.loc[table["split"] == "test", "nsd_id"].tolist() != expected_split(ids)[1].tolist()
    )


def test_fault_515_images(four_subject_fault_tree, both):
    root = four_subject_fault_tree("4subj-515-images")
    table = pd.read_csv(root / "assemblies" / "train_test_split_4subj.csv")
    eight = pd.read_csv(both / "assemblies" / "train_test_split_8subj.csv")
    assert table["nsd_id"].tolist() == eight["nsd_id"].tolist()


def test_fault_global_z_train_only(four_subject_fault_tree):
    root = four_subject_fault_tree("4subj-global-z-train-only")
    train = _load(root / "brainscore" / "Allen2022_fmri_train_4subj.nc").isel(time_bin=0)
    np.testing.assert_allclose(train.values.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(train.values.std(axis=0), 1.0, atol=1e-3)
    assert set(VARIANT_FAULTS) == {
        "4subj-8subj-split",
        "4subj-515-images",
        "4subj-global-z-train-only",
    }
