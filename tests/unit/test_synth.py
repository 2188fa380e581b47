"""Tests of the synthetic NSD generator against the data contract (NSD_FORMATS.md).

Expected values are recomputed here with h5py, nibabel, scipy.io and xarray directly; the
generator's own helpers are never used to produce them.
"""

import dataclasses
import filecmp
import json
import re
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import scipy.io
import xarray as xr
from design_reading import expdesign, trial_images
from sklearn.linear_model import Ridge

from nsdval import cli
from nsdval.errors import OutputError, ParameterError
from nsdval.synth import FAULTS, PRESETS, full, presets, synthesize, volumes

REGIONS = ["V1", "V2", "V4", "IT"]
EXPECTED_FAULTS = [
    "no-global-zscore",
    "ddof1",
    "no-session-zscore",
    "int16-scale",
    "reps-misaligned",
    "neuroids-shuffled",
    "regions-swapped",
    "subjects-swapped",
    "train-test-leak",
    "nsd-id-off-by-one",
    "voxel-coords-transposed",
    "nc-testset-wrong",
    "split-seed",
    "score-wrong",
]


# ---------------------------------------------------------------- independent readers


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("synth") / "tiny", preset="tiny", seed=0)


def subjects(root):
    return sorted(p.name for p in root.glob("subj??"))


def session_files(root, subject):
    return sorted((root / subject / "betas").glob("betas_session*.hdf5"))


def read_betas(path):
    with h5py.File(path, "r") as handle:
        return handle["betas"][()]


def roi(root, subject, name):
    return nib.load(root / subject / "rois" / f"{name}.nii.gz").get_fdata()


def region_mask(root, subject, region):
    """(Z, Y, X) mask aligned with the HDF5 spatial axes."""
    if region == "IT":
        lh, rh = roi(root, subject, "lh.streams"), roi(root, subject, "rh.streams")
        return ((lh == 5) | (rh == 5)).T
    labels = {"V1": [1, 2], "V2": [3, 4], "V4": [7]}[region]
    return np.isin(roi(root, subject, "prf-visualrois"), labels).T


def n_trials_of(root, subject):
    files = session_files(root, subject)
    with h5py.File(files[0], "r") as handle:
        return len(files) * handle["betas"].shape[0]


def assembly_images(root):
    """Shared images (0-based) shown exactly 3 times within every subject's sessions."""
    _, _, sharedix = expdesign(root)
    keep = set(sharedix - 1)
    for index, subject in enumerate(subjects(root)):
        shown = trial_images(root, index, n_trials_of(root, subject))
        ids, counts = np.unique(shown, return_counts=True)
        keep &= set(ids[counts == 3])
    return np.array(sorted(keep))


def open_array(path):
    with xr.open_dataarray(path) as array:
        return array.load()


def brainscore(root, split):
    return open_array(root / "brainscore" / f"Allen2022_fmri_{split}_8subj.nc")


def region_assembly(root, region):
    return open_array(root / "assemblies" / f"Allen2022.{region}_8subj.nc")


def split_csv(root):
    return pd.read_csv(root / "assemblies" / "train_test_split_8subj.csv")


def per_repetition(root, subject, region, zscore=True, truncate=False):
    """(n_images, 3, n_voxels) values of the assembly images, by a direct loop over trials."""
    index = {nsd: i for i, nsd in enumerate(assembly_images(root))}
    mask = region_mask(root, subject, region)
    subject_index = subjects(root).index(subject)
    images = trial_images(root, subject_index, n_trials_of(root, subject))
    values = np.zeros((len(index), 3, mask.sum()))
    seen = {}
    trial = 0
    for path in session_files(root, subject):
        data = read_betas(path)[:, mask].astype(np.float64) / 300
        if truncate:
            data = np.trunc(data)
        if zscore:
            std = data.std(axis=0)
            std[std == 0] = 1
            data = (data - data.mean(axis=0)) / std
        for row in data:
            nsd = images[trial]
            trial += 1
            if nsd in index:
                values[index[nsd], seen.get(nsd, 0)] = row
                seen[nsd] = seen.get(nsd, 0) + 1
    return values


def split_rows(n_images, seed=42):
    order = np.arange(n_images)
    np.random.RandomState(seed).shuffle(order)
    n_train = int(0.8 * n_images)
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def block(array, subject, region):
    columns = (array["subject"].values == subject) & (array["region"].values == region)
    values = np.asarray(array.values)
    return values[:, columns, 0] if array.ndim == 3 else values[:, columns]


# ---------------------------------------------------------------- API


def test_public_names():
    assert list(FAULTS) == EXPECTED_FAULTS
    assert all(isinstance(text, str) and text for text in FAULTS.values())
    assert PRESETS[:2] == ("tiny", "demo")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"preset": "huge"}, "preset.*expected one of tiny, demo.*'huge'"),
        ({"fault": "x"}, "fault"),
    ],
)
def test_bad_parameters(tmp_path, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        synthesize(tmp_path / "out", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_refuses_non_empty_output(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(OutputError, match="not an empty folder"):
        synthesize(tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_empty_output_is_used_and_no_staging_left(tmp_path):
    (tmp_path / "out").mkdir()
    assert synthesize(tmp_path / "out", seed=3) == tmp_path / "out"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (tmp_path / "out" / "synth.json").is_file()


# ---------------------------------------------------------------- raw files


def test_synth_json_describes_the_tree(tiny):
    truth = json.loads((tiny / "synth.json").read_text())
    assert truth["preset"] == "tiny" and truth["fault"] is None
    assert list(truth["subjects"]) == subjects(tiny)
    shapes = {tuple(s["volume_shape"]) for s in truth["subjects"].values()}
    sessions = {s["sessions"] for s in truth["subjects"].values()}
    assert len(shapes) == len(sessions) == 2
    assert truth["n_images"] == len(assembly_images(tiny))
    assert truth["n_train"] + truth["n_test"] == truth["n_images"]
    for subject, summary in truth["subjects"].items():
        assert len(session_files(tiny, subject)) == summary["sessions"]
        for region in REGIONS:
            assert summary["voxels"][region] == region_mask(tiny, subject, region).sum() >= 15


def test_betas_format(tiny):
    truth = json.loads((tiny / "synth.json").read_text())
    trials = truth["trials_per_session"]
    for subject in subjects(tiny):
        x, y, z = truth["subjects"][subject]["volume_shape"]
        for path in session_files(tiny, subject):
            with h5py.File(path, "r") as handle:
                assert list(handle) == ["betas"]
                betas = handle["betas"]
                assert betas.dtype == np.int16
                assert betas.shape == (trials, z, y, x)
                assert betas.chunks == (trials, 1, 1, 1)
                assert betas.compression is None and not betas.shuffle
                assert not betas.fletcher32 and betas.scaleoffset is None


def test_zeros_outside_brain_and_regions_inside(tiny):
    for subject in subjects(tiny):
        ncsnr = nib.load(tiny / subject / "betas" / "ncsnr.nii.gz").get_fdata().T
        brain = np.zeros(ncsnr.shape, dtype=bool)
        for path in session_files(tiny, subject):
            betas = read_betas(path)
            assert np.all(betas[:, np.isnan(ncsnr)] == 0)
            brain |= np.any(betas != 0, axis=0)
        assert np.array_equal(brain, np.isfinite(ncsnr))
        for region in REGIONS:
            assert brain[region_mask(tiny, subject, region)].all()


def test_a_v1_voxel_is_zero_for_a_whole_session(tiny):
    mask = region_mask(tiny, "subj01", "V1")
    stds = [read_betas(path)[:, mask].std(axis=0) for path in session_files(tiny, "subj01")]
    assert any(np.any(std == 0) for std in stds)


def test_roi_volumes(tiny):
    truth = json.loads((tiny / "synth.json").read_text())
    for subject in subjects(tiny):
        shape = tuple(truth["subjects"][subject]["volume_shape"])
        volumes = {
            name: roi(tiny, subject, name)
            for name in ("prf-visualrois", "lh.streams", "rh.streams", "streams")
        }
        for volume in volumes.values():
            assert volume.shape == shape
            assert set(np.unique(volume)) == set(range(-1, 8))
        lh, rh = volumes["lh.streams"], volumes["rh.streams"]
        assert not np.any((lh >= 0) & (rh >= 0))
        assert np.array_equal(volumes["streams"], np.maximum(lh, rh))
        masks = [region_mask(tiny, subject, region) for region in REGIONS]
        assert sum(m.astype(int) for m in masks).max() == 1


def test_expdesign(tiny):
    order, subjectim, sharedix = expdesign(tiny)
    mat = scipy.io.loadmat(tiny / "metadata" / "nsd_expdesign.mat")
    assert mat["masterordering"].shape == (1, order.size)
    assert mat["sharedix"].shape == (1, sharedix.size)
    truth = json.loads((tiny / "synth.json").read_text())
    sessions = [s["sessions"] for s in truth["subjects"].values()]
    assert order.size == max(sessions) * truth["trials_per_session"]
    assert subjectim.shape == (len(sessions), order.max())
    assert order.min() == 1 and np.unique(order, return_counts=True)[1].max() <= 3
    assert subjectim.min() >= 1 and subjectim.max() <= 73000
    n_shared = sharedix.size
    assert np.all(subjectim[:, :n_shared] == subjectim[0, :n_shared])
    assert sorted(subjectim[0, :n_shared]) == sorted(sharedix)
    assert len(np.unique(subjectim)) == n_shared + subjectim.shape[0] * (order.max() - n_shared)


def test_assembly_images_are_a_strict_subset_of_shared(tiny):
    images = assembly_images(tiny)
    _, _, sharedix = expdesign(tiny)
    assert 0 < images.size < sharedix.size
    assert split_csv(tiny)["nsd_id"].tolist() == images.tolist()
    for region in REGIONS:
        assert region_assembly(tiny, region)["nsd_id"].values.tolist() == images.tolist()


def test_ncsnr_recomputed_from_betas(tiny):
    subject = "subj02"
    images = trial_images(tiny, 1, n_trials_of(tiny, subject))
    z = []
    for path in session_files(tiny, subject):
        betas = read_betas(path)
        data = betas.reshape(betas.shape[0], -1) / 300
        std = data.std(axis=0)
        std[std == 0] = 1
        z.append((data - data.mean(axis=0)) / std)
    z = np.concatenate(z)
    ids, counts = np.unique(images, return_counts=True)
    var = np.mean([z[images == i].var(axis=0, ddof=1) for i in ids[counts == 3]], axis=0)
    v = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.sqrt(np.maximum(1 - v**2, 0)) / v
    stored = nib.load(tiny / subject / "betas" / "ncsnr.nii.gz")
    assert stored.get_data_dtype() == np.float32
    stored = stored.get_fdata().T.ravel()
    inside = np.isfinite(stored)
    np.testing.assert_allclose(stored[inside], expected[inside], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- assemblies


def test_split_reproduces_randomstate_42(tiny):
    table = split_csv(tiny)
    assert list(table.columns) == ["stimulus_id", "nsd_id", "split"]
    train, test = split_rows(len(table))
    assert np.flatnonzero(table["split"] == "train").tolist() == train.tolist()
    assert np.flatnonzero(table["split"] == "test").tolist() == test.tolist()
    assert table["stimulus_id"].tolist() == [f"nsd_{i:05d}" for i in table["nsd_id"]]


def test_brainscore_coordinates(tiny):
    train, test = brainscore(tiny, "train"), brainscore(tiny, "test")
    table = split_csv(tiny)
    for array in (train, test):
        assert array.dims == ("presentation", "neuroid", "time_bin")
        assert array.dtype == np.float32 and not np.isnan(array.values).any()
        assert array["time_bin_start"].values.tolist() == [70]
        assert array["time_bin_end"].values.tolist() == [170]
        assert not array.indexes
    test_ids = table.loc[table["split"] == "test", "stimulus_id"].tolist()
    assert (
        train["stimulus_id"].values.tolist()
        == table.loc[table["split"] == "train", "stimulus_id"].tolist()
    )
    assert test["stimulus_id"].values.tolist() == np.repeat(test_ids, 3).tolist()
    assert test["repetition"].values.tolist() == [0, 1, 2] * len(test_ids)
    assert "repetition" not in train.coords
    for name in ("neuroid_id", "subject", "region", "nc_testset", "voxel_x", "voxel_y", "voxel_z"):
        assert np.array_equal(train[name].values, test[name].values)
    expected_ids, expected_xyz = [], []
    for subject in subjects(tiny):
        for region in REGIONS:
            coords = np.argwhere(region_mask(tiny, subject, region))
            expected_ids += [f"{subject}_{region}_v{i:04d}" for i in range(len(coords))]
            expected_xyz.append(coords)
    assert train["neuroid_id"].values.tolist() == expected_ids
    xyz = np.stack([train[f"voxel_{a}"].values for a in "xyz"], axis=1)
    assert np.array_equal(xyz, np.concatenate(expected_xyz))
    assert all(re.fullmatch(r"subj\d\d_(V1|V2|V4|IT)_v\d{4}", i) for i in expected_ids)


def test_region_assembly_coordinates(tiny):
    train = brainscore(tiny, "train")
    for region in REGIONS:
        assembly = region_assembly(tiny, region)
        assert assembly.dims == ("presentation", "neuroid") and assembly.dtype == np.float32
        chosen = train["region"].values == region
        for name in ("neuroid_id", "subject", "voxel_x", "voxel_y", "voxel_z", "nc_testset"):
            assert np.array_equal(assembly[name].values, train[name].values[chosen])


@pytest.mark.parametrize(("subject", "region"), [("subj01", "V1"), ("subj02", "V4")])
def test_values_rederived_from_raw_betas(tiny, subject, region):
    reps = per_repetition(tiny, subject, region)
    averaged = reps.mean(axis=1)
    assembly = region_assembly(tiny, region)
    np.testing.assert_allclose(block(assembly, subject, region), averaged, atol=1e-5)
    mean, std = averaged.mean(axis=0), averaged.std(axis=0)
    std[std == 0] = 1
    train_rows, test_rows = split_rows(len(averaged))
    train, test = brainscore(tiny, "train"), brainscore(tiny, "test")
    np.testing.assert_allclose(
        block(train, subject, region), (averaged[train_rows] - mean) / std, atol=1e-5
    )
    expected_test = ((reps[test_rows] - mean) / std).reshape(-1, reps.shape[2])
    np.testing.assert_allclose(block(test, subject, region), expected_test, atol=1e-5)


def test_nc_testset_follows_ncsnr(tiny):
    train = brainscore(tiny, "train")
    for subject in subjects(tiny):
        ncsnr = nib.load(tiny / subject / "betas" / "ncsnr.nii.gz").get_fdata().T
        rows = train["subject"].values == subject
        xyz = tuple(train[f"voxel_{a}"].values[rows] for a in "xyz")
        n2 = ncsnr[xyz] ** 2
        expected = np.nan_to_num(100 * n2 / (n2 + 1 / 3))
        np.testing.assert_allclose(train["nc_testset"].values[rows], expected, rtol=1e-6)
    nc = train["nc_testset"].values
    for region in REGIONS:
        low = np.mean(nc[train["region"].values == region] <= 30)
        assert 0.15 <= low <= 0.65


def test_activations(tiny):
    table = split_csv(tiny)
    for region in REGIONS:
        for split in ("train", "test"):
            acts = open_array(tiny / "benchmark" / region / f"activations_{split}.nc")
            assert acts.dims == ("presentation", "neuroid") and acts.dtype == np.float32
            expected = table.loc[table["split"] == split, "stimulus_id"].tolist()
            assert acts["stimulus_id"].values.tolist() == expected
            assert acts["neuroid_id"].values[0] == "feat_00000"


def test_scores_in_range(tiny):
    for region in REGIONS:
        report = json.loads((tiny / "benchmark" / region / "score.json").read_text())
        assert report["benchmark"] == f"Allen2022_fmri.{region}-ridge"
        assert list(report["subjects"]) == subjects(tiny)
        raws = [s["raw"] for s in report["subjects"].values()]
        # a subject's median r over 8-38 voxels and 10 test images; a region's voxels read out
        # one band of latents, so they move together: over seeds 0-9 the raws span 0.13-0.67
        assert all(0.1 <= raw <= 0.7 for raw in raws)
        assert report["raw"] == pytest.approx(np.mean(raws))
        scores = [s["raw"] ** 2 / s["ceiling"] for s in report["subjects"].values()]
        assert report["score"] == pytest.approx(np.mean(scores))


def test_subject_raw_score_reproduced(tiny):
    region, subject = "V4", "subj02"
    train, test = brainscore(tiny, "train"), brainscore(tiny, "test")
    keep = (
        (train["region"].values == region)
        & (train["subject"].values == subject)
        & (train["nc_testset"].values > 30)
    )
    acts = {
        split: open_array(tiny / "benchmark" / region / f"activations_{split}.nc").values
        for split in ("train", "test")
    }
    model = Ridge(alpha=1.0).fit(acts["train"].astype(float), train.values[:, keep, 0])
    prediction = model.predict(acts["test"].astype(float))
    target = test.values[:, keep, 0].reshape(-1, 3, keep.sum()).mean(axis=1)
    r = [np.corrcoef(prediction[:, i], target[:, i])[0, 1] for i in range(keep.sum())]
    report = json.loads((tiny / "benchmark" / region / "score.json").read_text())
    assert report["subjects"][subject]["raw"] == pytest.approx(np.median(r), abs=1e-5)


# ---------------------------------------------------------------- faults


def _same_raw_files(clean, faulted):
    for subject in subjects(clean):
        for path in session_files(clean, subject):
            assert filecmp.cmp(path, faulted / path.relative_to(clean), shallow=False)
        for name in ("prf-visualrois", "lh.streams", "rh.streams", "streams"):
            assert np.array_equal(roi(clean, subject, name), roi(faulted, subject, name))
        ncsnr = [
            nib.load(r / subject / "betas" / "ncsnr.nii.gz").get_fdata() for r in (clean, faulted)
        ]
        np.testing.assert_array_equal(*ncsnr)
    for a, b in zip(expdesign(clean), expdesign(faulted), strict=True):
        assert np.array_equal(a, b)


def _values(array):
    return np.asarray(array.values)


def _check_no_global_zscore(clean, faulted):
    rows = split_rows(len(split_csv(clean)))[0]
    train = brainscore(faulted, "train")
    for region in REGIONS:
        assembly = region_assembly(clean, region)
        for subject in subjects(clean):
            expected = block(assembly, subject, region)[rows]
            np.testing.assert_allclose(block(train, subject, region), expected, atol=1e-6)


def _check_ddof1(clean, faulted):
    n = len(split_csv(clean))
    ratio = np.sqrt((n - 1) / n)
    for split in ("train", "test"):
        np.testing.assert_allclose(
            _values(brainscore(faulted, split)),
            _values(brainscore(clean, split)) * ratio,
            atol=1e-5,
        )


def _check_chain_variant(clean, faulted, **variant):
    for subject, region in (("subj01", "V2"), ("subj02", "IT")):
        expected = per_repetition(faulted, subject, region, **variant).mean(axis=1)
        got = block(region_assembly(faulted, region), subject, region)
        np.testing.assert_allclose(got, expected, atol=1e-5)
        assert not np.allclose(got, block(region_assembly(clean, region), subject, region))


def _check_reps_misaligned(clean, faulted):
    c, f = _values(brainscore(clean, "test")), _values(brainscore(faulted, "test"))
    n = c.shape[0] // 3
    np.testing.assert_array_equal(f.reshape(n, 3, -1), c.reshape(n, 3, -1)[:, ::-1])
    np.testing.assert_array_equal(
        _values(brainscore(clean, "train")), _values(brainscore(faulted, "train"))
    )


def _check_neuroids_shuffled(clean, faulted):
    for split in ("train", "test"):
        c, f = brainscore(clean, split), brainscore(faulted, split)
        assert np.array_equal(c["neuroid_id"].values, f["neuroid_id"].values)
        cols = (c["subject"].values == "subj01") & (c["region"].values == "V4")
        np.testing.assert_array_equal(_values(c)[:, ~cols], _values(f)[:, ~cols])
        cb, fb = _values(c)[:, cols, 0], _values(f)[:, cols, 0]
        assert not np.any(np.all(cb == fb, axis=0))
        assert sorted(map(tuple, cb.T)) == sorted(map(tuple, fb.T))


def _check_labels(clean, faulted, column, swap, where):
    for split in ("train", "test"):
        c, f = brainscore(clean, split), brainscore(faulted, split)
        np.testing.assert_array_equal(_values(c), _values(f))
        expected = c[column].values.copy()
        rows = where(c) & np.isin(expected, list(swap))
        expected[rows] = [swap[v] for v in expected[rows]]
        assert np.array_equal(f[column].values, expected) and rows.any()
        assert all(
            n.startswith(f"{s}_{r}_")
            for n, s, r in zip(
                f["neuroid_id"].values, f["subject"].values, f["region"].values, strict=True
            )
        )
        assert len(set(f["neuroid_id"].values)) == f.sizes["neuroid"]


def _check_regions_swapped(clean, faulted):
    last = subjects(clean)[-1]
    _check_labels(
        clean, faulted, "region", {"V1": "V2", "V2": "V1"}, lambda a: a["subject"].values == last
    )


def _check_subjects_swapped(clean, faulted):
    _check_labels(
        clean,
        faulted,
        "subject",
        {"subj01": "subj02", "subj02": "subj01"},
        lambda a: np.ones(a.sizes["neuroid"], bool),
    )


def _check_train_test_leak(clean, faulted):
    assert split_csv(clean).equals(split_csv(faulted))
    table = split_csv(faulted)
    train = brainscore(faulted, "train")
    test_ids = set(table.loc[table["split"] == "test", "stimulus_id"])
    leaked = set(train["stimulus_id"].values) & test_ids
    assert len(leaked) == 3
    test = brainscore(faulted, "test")
    for image in leaked:
        in_train = _values(train)[train["stimulus_id"].values == image, :, 0]
        in_test = _values(test)[test["stimulus_id"].values == image, :, 0].mean(axis=0)
        np.testing.assert_allclose(in_train[0], in_test, atol=1e-5)
    assert train.sizes["presentation"] == (table["split"] == "train").sum()
    ids = train["stimulus_id"].values.tolist()
    assert ids == sorted(ids)


def _check_nsd_id_off_by_one(clean, faulted):
    c, f = split_csv(clean), split_csv(faulted)
    assert (f["nsd_id"] == c["nsd_id"] + 1).all()
    assert f["stimulus_id"].tolist() == [f"nsd_{i:05d}" for i in f["nsd_id"]]
    arrays = [(brainscore(r, s)) for r in (clean, faulted) for s in ("train", "test")]
    arrays += [region_assembly(r, "V1") for r in (clean, faulted)]
    for a, b in ((arrays[0], arrays[2]), (arrays[1], arrays[3]), (arrays[4], arrays[5])):
        assert np.array_equal(a["nsd_id"].values + 1, b["nsd_id"].values)
        assert b["stimulus_id"].values.tolist() == [f"nsd_{i:05d}" for i in b["nsd_id"].values]
        np.testing.assert_array_equal(_values(a), _values(b))
    acts = open_array(faulted / "benchmark" / "IT" / "activations_train.nc")
    assert acts["stimulus_id"].values.tolist() == arrays[2]["stimulus_id"].values.tolist()


def _check_voxel_coords_transposed(clean, faulted):
    c, f = brainscore(clean, "train"), brainscore(faulted, "train")
    assert np.array_equal(c["voxel_x"].values, f["voxel_z"].values)
    assert np.array_equal(c["voxel_z"].values, f["voxel_x"].values)
    assert np.array_equal(c["voxel_y"].values, f["voxel_y"].values)
    ra, rb = region_assembly(clean, "V4"), region_assembly(faulted, "V4")
    assert np.array_equal(ra["voxel_x"].values, rb["voxel_x"].values)


def _check_nc_testset_wrong(clean, faulted):
    c, f = (
        brainscore(clean, "train")["nc_testset"].values,
        brainscore(faulted, "train")["nc_testset"].values,
    )
    n2 = c / (100 - c) / 3
    np.testing.assert_allclose(f, 100 * n2 / (n2 + 1), atol=1e-6)
    assert np.all(f <= c) and np.any(f < c)
    ra = region_assembly(faulted, "V1")["nc_testset"].values
    np.testing.assert_array_equal(ra, region_assembly(clean, "V1")["nc_testset"].values)


def _check_split_seed(clean, faulted):
    table = split_csv(faulted)
    train, test = split_rows(len(table), seed=0)
    assert np.flatnonzero(table["split"] == "train").tolist() == train.tolist()
    assert not table["split"].equals(split_csv(clean)["split"])
    ids = table["stimulus_id"].values
    assert brainscore(faulted, "train")["stimulus_id"].values.tolist() == ids[train].tolist()
    assert (
        brainscore(faulted, "test")["stimulus_id"].values.tolist()
        == np.repeat(ids[test], 3).tolist()
    )


def _check_score_wrong(clean, faulted):
    for region in REGIONS:
        c = json.loads((clean / "benchmark" / region / "score.json").read_text())
        f = json.loads((faulted / "benchmark" / region / "score.json").read_text())
        if region != "V4":
            assert c == f
            continue
        assert f["score"] == pytest.approx(c["score"] + 0.05)
        assert f["subjects"]["subj01"]["raw"] == pytest.approx(
            c["subjects"]["subj01"]["raw"] + 0.05
        )
        assert f["raw"] == c["raw"] and f["subjects"]["subj02"] == c["subjects"]["subj02"]
    np.testing.assert_array_equal(
        _values(brainscore(clean, "train")), _values(brainscore(faulted, "train"))
    )


FAULT_CHECKS = {
    "no-global-zscore": _check_no_global_zscore,
    "ddof1": _check_ddof1,
    "no-session-zscore": lambda c, f: _check_chain_variant(c, f, zscore=False),
    "int16-scale": lambda c, f: _check_chain_variant(c, f, truncate=True),
    "reps-misaligned": _check_reps_misaligned,
    "neuroids-shuffled": _check_neuroids_shuffled,
    "regions-swapped": _check_regions_swapped,
    "subjects-swapped": _check_subjects_swapped,
    "train-test-leak": _check_train_test_leak,
    "nsd-id-off-by-one": _check_nsd_id_off_by_one,
    "voxel-coords-transposed": _check_voxel_coords_transposed,
    "nc-testset-wrong": _check_nc_testset_wrong,
    "split-seed": _check_split_seed,
    "score-wrong": _check_score_wrong,
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_manifests(tiny, tmp_path, fault):
    faulted = synthesize(tmp_path / fault, preset="tiny", seed=0, fault=fault)
    assert json.loads((faulted / "synth.json").read_text())["fault"] == fault
    _same_raw_files(tiny, faulted)
    FAULT_CHECKS[fault](tiny, faulted)


# ---------------------------------------------------------------- demo


@pytest.mark.slow
def test_demo_preset(tmp_path):
    root = synthesize(tmp_path / "demo", preset="demo", seed=0)
    size = sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())
    assert size < 1e9
    assert len(subjects(root)) == 8
    truth = json.loads((root / "synth.json").read_text())
    assert len({tuple(s["volume_shape"]) for s in truth["subjects"].values()}) == 8
    assert 100 <= truth["n_images"] <= 130
    for region in REGIONS:
        report = json.loads((root / "benchmark" / region / "score.json").read_text())
        assert 0.2 <= report["raw"] <= 0.6


# ---------------------------------------------------------------- full (timing dataset)

SMALL_FULL = {
    "shapes": ((20, 26, 21),),
    "trials": 40,
    "sessions": (3,),
    "n_assembly": 30,
    "n_twice": 4,
    "n_features": 50,
    "region_sizes": {"V1": 30, "V2": 31, "V4": 12, "IT": 90},
}


@pytest.fixture
def small_full(monkeypatch):
    """The full preset's writer on a small volume, through synthesize()."""
    small = dataclasses.replace(presets.get_preset("full"), **SMALL_FULL)
    monkeypatch.setitem(presets._PRESETS, "full", small)
    return small


def test_full_preset_has_subj01_real_sizes():
    full = presets.get_preset("full")
    assert "full" in PRESETS and full.streamed
    assert full.shapes == ((81, 104, 83),) and full.trials == 750 and full.sessions == (4,)
    assert full.region_sizes == {"V1": 1350, "V2": 1433, "V4": 687, "IT": 7604}
    assert (full.n_assembly, full.n_features) == (515, 64896)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"preset": "tiny", "sessions": 2}, "sessions.*only the full preset"),
        ({"preset": "full", "sessions": 0}, "sessions.*positive integer"),
        ({"preset": "full", "sessions": 1.5}, "sessions.*positive integer"),
        ({"preset": "full", "fault": "ddof1"}, "fault.*no packaged outputs"),
    ],
)
def test_full_preset_parameters(tmp_path, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        synthesize(tmp_path / "out", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_full_tree_files(small_full, tmp_path):
    root = synthesize(tmp_path / "full", preset="full", seed=0, sessions=2)
    assert sorted(p.name for p in root.iterdir()) == [
        "benchmark",
        "metadata",
        "subj01",
        "synth.json",
    ]
    x, y, z = small_full.shapes[0]
    files = session_files(root, "subj01")
    assert [p.name for p in files] == ["betas_session01.hdf5", "betas_session02.hdf5"]
    brain = np.zeros((z, y, x), bool)
    for path in files:
        with h5py.File(path, "r") as handle:
            dset = handle["betas"]
            assert dset.shape == (40, z, y, x) and dset.dtype == np.int16
            assert dset.chunks == (40, 1, 1, 1) and dset.compression is None
            assert dset.id.get_num_chunks() == x * y * z  # every chunk written
            values = dset[()]
        brain |= np.any(values != 0, axis=0)
    truth = json.loads((root / "synth.json").read_text())
    assert truth["preset"] == "full" and truth["benchmark_dataset"] and truth["sessions"] == 2
    assert 0 < brain.sum() <= truth["brain_voxels"] < brain.size
    assert len(truth["seconds_per_session"]) == 2
    for region, size in SMALL_FULL["region_sizes"].items():
        assert region_mask(root, "subj01", region).sum() == size
        assert truth["voxels"][region] == size


def test_full_tree_design_and_activations(small_full, tmp_path):
    root = synthesize(tmp_path / "full", preset="full", seed=0, sessions=2)
    ordering, subjectim, sharedix = expdesign(root)
    assert ordering.size == 3 * 40 and subjectim.shape[0] == 1  # design covers 3 sessions
    columns, counts = np.unique(ordering, return_counts=True)
    shown3 = columns[(counts == 3) & (columns <= sharedix.size)]
    images = np.sort(subjectim[0, shown3 - 1] - 1)
    assert images.size == SMALL_FULL["n_assembly"]
    acts = {
        split: xr.open_dataarray(root / "benchmark" / "V4" / f"activations_{split}.nc").load()
        for split in ("train", "test")
    }
    assert acts["train"].shape == (24, 50) and acts["test"].shape == (6, 50)
    assert all(a.dtype == np.float32 for a in acts.values())
    ids = np.concatenate([a["stimulus_id"].values for a in acts.values()])
    assert sorted(ids) == [f"nsd_{i:05d}" for i in images]
    assert not list(root.glob("assemblies")) and not list(root.glob("brainscore"))


def test_full_tree_is_deterministic_and_refused_by_run(small_full, tmp_path, capsys):
    a = synthesize(tmp_path / "a", preset="full", seed=3, sessions=1)
    b = synthesize(tmp_path / "b", preset="full", seed=3, sessions=1)
    np.testing.assert_array_equal(
        read_betas(session_files(a, "subj01")[0]), read_betas(session_files(b, "subj01")[0])
    )
    code = cli.main(["run", "--nsd-root", str(a), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "missing" in err


def test_full_writer_functions_on_a_small_shape(tmp_path):
    anatomy = volumes.sized_anatomy((9, 11, 10), {"V1": 8, "V2": 8, "V4": 4, "IT": 20})
    model = full.voxel_model(anatomy, 3, np.random.default_rng(0))
    z_count = anatomy.brain.shape[0]
    assert sum(model.plane_columns(z).size for z in range(z_count)) == model.snr.size
    session = {"offset": np.zeros(model.snr.size), "gain": np.ones(model.snr.size)}
    latents = np.random.default_rng(1).standard_normal((7, 3))

    def source(z):
        columns = model.plane_columns(z)
        return full.plane_values(model, columns, latents, session, np.random.default_rng(z))

    full.write_session(tmp_path / "s.hdf5", anatomy.brain, source, 7)
    with h5py.File(tmp_path / "s.hdf5", "r") as handle:
        values = handle["betas"][()]
        assert handle["betas"].chunks == (7, 1, 1, 1)
    assert values.shape == (7, *anatomy.brain.shape) and values.dtype == np.int16
    assert np.all(values[:, ~anatomy.brain] == 0)
    expected = np.concatenate([source(z) for z in range(z_count)], axis=1)
    np.testing.assert_array_equal(values[:, anatomy.brain], expected)


def test_synth_command_passes_sessions(monkeypatch, tmp_path, capsys):
    seen = {}
    monkeypatch.setattr(
        "nsdval.synth.synthesize", lambda path, **kwargs: seen.update(kwargs) or Path(path)
    )
    assert cli.main(["synth", str(tmp_path / "t"), "--preset", "full", "--sessions", "2"]) == 0
    assert seen == {"preset": "full", "seed": 0, "fault": None, "sessions": 2}
    monkeypatch.undo()
    assert cli.main(["synth", str(tmp_path / "u"), "--preset", "tiny", "--sessions", "2"]) == 2
    assert "only the full preset" in capsys.readouterr().err
