"""Tests of the synthetic surface (fsaverage) family against NSD_FORMATS.md.

Expected values are recomputed here from the MGH and label files with nibabel, numpy,
scipy.io and xarray directly; the generator's helpers are never used to produce them.
"""

import contextlib
import dataclasses
import hashlib
import json
import re
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from design_reading import expdesign, trial_images
from sklearn.linear_model import Ridge

from nsdval import cli
from nsdval.errors import ParameterError
from nsdval.synth import FAULTS, RDM_FAULTS, SURFACE_FAULTS, presets, synthesize

REGIONS = ["V1", "V2", "V4", "IT"]
HEMIS = ["lh", "rh"]
KASTNER = {"V1": [1, 2], "V2": [3, 4], "V4": [7]}
LABEL_NAMES = ["Kastner2015", "streams", "nsdgeneral"]
BS = [f"brainscore_surface/Allen2022_fmri_surface_{s}_8subj.nc" for s in ("train", "test")]
RA = {r: f"assemblies/Allen2022_surface.{r}_8subj.nc" for r in REGIONS}
SCORES = {r: f"benchmark_surface/{r}/score.json" for r in REGIONS}
RDM_SCORES = {r: f"benchmark_surface/{r}/score_rdm.json" for r in REGIONS}


# ---------------------------------------------------------------- fixtures and readers


@pytest.fixture(scope="module")
def surf(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("surf") / "tiny", preset="tiny", space="surface")


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("both") / "tiny", preset="tiny", space="all")


def truth(root):
    return json.loads((root / "synth.json").read_text())


def subjects(root):
    return sorted(p.name for p in root.glob("subj??"))


def mgh(path):
    return np.asarray(nib.load(path).dataobj)


def label(root, hemi, name):
    return mgh(root / "fsaverage_labels" / f"{hemi}.{name}.mgz").ravel()


def vertices(root, hemi, region, kastner=None, labels_from=None):
    labels_from = labels_from or hemi
    if region == "IT":
        return np.flatnonzero(label(root, labels_from, "streams") == 5)
    return np.flatnonzero(
        np.isin(label(root, labels_from, "Kastner2015"), kastner or KASTNER[region])
    )


def session_paths(root, subject, hemi):
    return sorted((root / subject / "betas").glob(f"{hemi}.betas_session*.mgh"))


def betas(root, subject, hemi):
    """(n_trials, n_vertices) float64 of every session, chronological."""
    return np.concatenate(
        [mgh(p)[:, 0, 0, :].T.astype(np.float64) for p in session_paths(root, subject, hemi)]
    )


def n_trials_per_session(root, subject):
    return nib.load(session_paths(root, subject, "lh")[0]).shape[3]


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def zscore(values, trials, nan_aware=False):
    out = np.empty_like(values)
    for start in range(0, values.shape[0], trials):
        chunk = values[start : start + trials]
        with _quiet():
            mean = np.nanmean(chunk, axis=0) if nan_aware else chunk.mean(axis=0)
            std = np.nanstd(chunk, axis=0) if nan_aware else chunk.std(axis=0)
        std[std == 0] = 1
        out[start : start + trials] = (chunk - mean) / std
    return out


def shared_ids(root):
    return np.sort(expdesign(root)[2] - 1)


def raw_reps(root, subject, region, nan_aware=False, kastner=None, swap=False):
    """Hemisphere, vertex and (n_shared, 3, n) repetitions of one subject's region, by a loop."""
    index = subjects(root).index(subject)
    trials = n_trials_per_session(root, subject)
    hemis, verts, columns = [], [], []
    for hemi in HEMIS:
        chosen = vertices(
            root, hemi, region, kastner, ("rh" if hemi == "lh" else "lh") if swap else None
        )
        values = zscore(betas(root, subject, hemi)[:, chosen], trials, nan_aware)
        hemis += [hemi] * chosen.size
        verts += chosen.tolist()
        columns.append(values)
    values = np.concatenate(columns, axis=1)
    images = trial_images(root, index, values.shape[0])
    shared = {nsd: i for i, nsd in enumerate(shared_ids(root))}
    reps = np.full((len(shared), 3, values.shape[1]), np.nan)
    seen = {}
    for trial, nsd in enumerate(images):
        if nsd in shared:
            reps[shared[nsd], seen.get(nsd, 0)] = values[trial]
            seen[nsd] = seen.get(nsd, 0) + 1
    return np.array(hemis), np.array(verts), reps


def rep_counts(root):
    """Per subject, how many times it saw each shared image."""
    counts = []
    for index, subject in enumerate(subjects(root)):
        n = len(session_paths(root, subject, "lh")) * n_trials_per_session(root, subject)
        images = trial_images(root, index, n)
        counts.append([int((images == nsd).sum()) for nsd in shared_ids(root)])
    return np.array(counts)


def open_array(path):
    with xr.open_dataarray(path) as array:
        return array.load()


def bs(root, split):
    return open_array(root / BS[0 if split == "train" else 1])


def region_assembly(root, region):
    return open_array(root / RA[region])


def split_rows(n_images, seed=42):
    order = np.arange(n_images)
    np.random.RandomState(seed).shuffle(order)
    n_train = int(0.8 * n_images)
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def complete_rows(root):
    return np.flatnonzero(rep_counts(root).min(axis=0) == 3)


def expected_brainscore(root, subject, region, **variant):
    """Train (n_train, n), test (n_test, 3, n) and train-style test means, from raw."""
    _, _, reps = raw_reps(root, subject, region, **variant)
    reps = reps[complete_rows(root)]
    with _quiet():
        averaged = np.nanmean(reps, axis=1)
        mean, std = np.nanmean(averaged, axis=0), np.nanstd(averaged, axis=0)
    std[std == 0] = 1
    train_rows, test_rows = split_rows(reps.shape[0])
    train = (averaged[train_rows] - mean) / std
    test = (reps[test_rows] - mean) / std
    style = (averaged[test_rows] - mean) / std
    return train, test, style


def block(array, subject, region):
    keep = (array["subject"].values == subject) & (array["region"].values == region)
    values = np.asarray(array.values)
    return values[:, keep, 0] if array.ndim == 3 else values[:, keep]


def nc(ncsnr):
    return 100 * ncsnr**2 / (ncsnr**2 + 1 / 3)


# ---------------------------------------------------------------- files and formats


def test_packaging_layout_files(surf):
    t = truth(surf)
    assert t["spaces"] == ["surface"] and "layout" not in t
    for name in LABEL_NAMES:
        assert (surf / "fsaverage_labels" / f"{name}.mgz.ctab").is_file()
        for hemi in HEMIS:
            assert (surf / "fsaverage_labels" / f"{hemi}.{name}.mgz").is_file()
    for subject in subjects(surf):
        sessions = t["surface"]["subjects"][subject]["sessions"]
        for hemi in HEMIS:
            names = [p.name for p in session_paths(surf, subject, hemi)]
            assert names == [f"{hemi}.betas_session{n:02d}.mgh" for n in range(1, sessions + 1)]
            assert (surf / subject / "betas" / f"{hemi}.ncsnr.mgh").is_file()
    for path in [*BS, *RA.values(), *SCORES.values(), "assemblies/train_test_split_8subj.csv"]:
        assert (surf / path).is_file(), path
    for region in REGIONS:
        for split in ("train", "test"):
            assert (surf / "benchmark_surface" / region / f"activations_{split}.nc").is_file()
    # a surface-only tree has no volume family
    assert not list(surf.rglob("*.hdf5")) and not list(surf.rglob("rois"))
    assert not (surf / "brainscore").exists() and not (surf / "benchmark").exists()
    assert not list((surf / "assemblies").glob("Allen2022.*"))


def test_official_layout(tmp_path, both):
    root = synthesize(tmp_path / "off", preset="tiny", space="all", layout="official")
    assert truth(root)["layout"] == "official"
    assert sorted(p.name for p in root.iterdir()) == [
        "assemblies",
        "benchmark",
        "benchmark_surface",
        "brainscore",
        "brainscore_surface",
        "nsddata",
        "nsddata_betas",
        "synth.json",
    ]
    moved = {}
    for path in both.rglob("*"):
        if not path.is_file() or path.name == "synth.json":
            continue
        relative = path.relative_to(both)
        parts = relative.parts
        if parts[0].startswith("subj"):
            if parts[1] == "rois":
                target = f"nsddata/ppdata/{parts[0]}/func1pt8mm/roi/{parts[2]}"
            else:
                space = "fsaverage" if parts[2][:3] in ("lh.", "rh.") else "func1pt8mm"
                folder = f"nsddata_betas/ppdata/{parts[0]}/{space}/betas_fithrf_GLMdenoise_RR"
                target = f"{folder}/{parts[2]}"
        elif parts[0] == "metadata":
            target = f"nsddata/experiments/nsd/{parts[1]}"
        elif parts[0] == "fsaverage_labels":
            target = f"nsddata/freesurfer/fsaverage/label/{parts[1]}"
        else:
            target = str(relative)
        moved[target] = path
    found = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert found - {"synth.json"} == set(moved)
    assert "nsddata_betas/ppdata/subj02/fsaverage/betas_fithrf_GLMdenoise_RR/rh.ncsnr.mgh" in found
    assert "nsddata/freesurfer/fsaverage/label/lh.Kastner2015.mgz" in found
    assert "nsddata/freesurfer/fsaverage/label/streams.mgz.ctab" in found
    for target, source in moved.items():
        if source.suffix != ".mat":  # the .mat header carries its creation time
            assert (root / target).read_bytes() == source.read_bytes(), target


def test_mgh_format_and_vertex_counts(surf):
    t = truth(surf)
    n = t["surface"]["n_vertices"]
    assert n != 163842 and n == 642
    trials = t["trials_per_session"]
    for name in LABEL_NAMES:
        for hemi in HEMIS:
            image = nib.load(surf / "fsaverage_labels" / f"{hemi}.{name}.mgz")
            assert image.shape == (n, 1, 1)
    for subject in subjects(surf):
        for hemi in HEMIS:
            ncsnr = nib.load(surf / subject / "betas" / f"{hemi}.ncsnr.mgh")
            assert ncsnr.shape == (n, 1, 1) and ncsnr.get_data_dtype() == np.dtype(">f4")
            for path in session_paths(surf, subject, hemi):
                image = nib.load(path)
                assert image.shape == (n, 1, 1, trials)
                assert image.get_data_dtype() == np.dtype(">f4")
                raw = path.read_bytes()
                # MGH header: version 1, dims, type 3 = float, all big-endian
                assert np.frombuffer(raw[:24], ">i4").tolist() == [1, n, 1, 1, trials, 3]
                assert len(raw) >= 284 + 4 * n * trials
                data = np.asarray(image.dataobj)
                # Fortran order: the vertices of one trial are contiguous on disk
                second = np.frombuffer(raw[284 + 4 * n : 284 + 8 * n], ">f4")
                np.testing.assert_array_equal(second, data[:, 0, 0, 1])


def test_values_are_percent_signal_change(surf):
    values = betas(surf, "subj01", "lh")
    finite = values[np.isfinite(values)]
    assert 0.3 < np.median(finite) < 2 and finite.std() < 5  # no x300 scaling


def test_label_files(surf):
    t = truth(surf)["surface"]
    ctab = (surf / "fsaverage_labels" / "Kastner2015.mgz.ctab").read_text().splitlines()
    names = {int(line.split()[0]): line.split()[1] for line in ctab}
    assert [names[i] for i in range(8)] == [
        "Unknown",
        "V1v",
        "V1d",
        "V2v",
        "V2d",
        "V3v",
        "V3d",
        "hV4",
    ]
    streams = (surf / "fsaverage_labels" / "streams.mgz.ctab").read_text().splitlines()
    assert [line.split()[:2] for line in streams][5] == ["5", "ventral"]
    assert all(len(line.split()) == 6 for line in ctab + streams)  # index name R G B A
    for hemi in HEMIS:
        kastner = label(surf, hemi, "Kastner2015")
        assert np.array_equal(kastner, np.round(kastner)) and kastner.min() == 0
        assert {5, 6} <= set(kastner.astype(int))
        for region in REGIONS:
            assert vertices(surf, hemi, region).size == t["vertices"][region][hemi] >= 10
        general = label(surf, hemi, "nsdgeneral")
        assert set(np.unique(general)) == {0, 1}
        assert general.sum() == t["nsdgeneral_vertices"][hemi]
        # regions are scattered over the vertex indexes, not one block
        assert np.diff(vertices(surf, hemi, "V1")).max() > 5
    assert t["vertices"]["V1"]["lh"] != t["vertices"]["V1"]["rh"]


def test_raw_nans_where_the_real_data_has_them(surf):
    t = truth(surf)
    trials = t["trials_per_session"]
    for subject in subjects(surf):
        planted = t["surface"]["subjects"][subject]["planted"]
        kinds = {p["kind"] for p in planted}
        assert {"all", "session", "trials"} <= kinds
        for hemi in HEMIS:
            values = betas(surf, subject, hemi)
            missing = np.isnan(values)
            sessions = missing.reshape(-1, trials, values.shape[1])
            everywhere = np.flatnonzero(missing.all(axis=0))
            whole = np.flatnonzero(sessions.all(axis=1).any(axis=0) & ~missing.all(axis=0))
            partial = np.flatnonzero((sessions.any(axis=1) & ~sessions.all(axis=1)).any(axis=0))
            ours = [p for p in planted if p["hemisphere"] == hemi]
            assert everywhere.tolist() == sorted(p["vertex"] for p in ours if p["kind"] == "all")
            assert whole.tolist() == sorted(p["vertex"] for p in ours if p["kind"] == "session")
            assert partial.tolist() == sorted(p["vertex"] for p in ours if p["kind"] == "trials")
        regions = {p["region"] for p in planted if p["kind"] != "zero"}
        assert {"V1", "V2"} <= regions and None in regions
    zero = [p for p in t["surface"]["subjects"]["subj01"]["planted"] if p["kind"] == "zero"]
    values = betas(surf, "subj01", "lh")[:, zero[0]["vertex"]]
    session = zero[0]["session"]
    assert np.all(values[(session - 1) * trials : session * trials] == 0)
    assert zero[0]["vertex"] in vertices(surf, "lh", "V1")


def test_ncsnr_recomputed_from_betas(surf):
    t = truth(surf)
    trials = t["trials_per_session"]
    for index, subject in enumerate(subjects(surf)):
        for hemi in HEMIS:
            z = zscore(betas(surf, subject, hemi), trials)
            images = trial_images(surf, index, z.shape[0])
            ids, counts = np.unique(images, return_counts=True)
            variances = np.stack(
                [z[images == image].var(axis=0, ddof=1) for image in ids[counts == 3]]
            )
            with _quiet():
                noise = np.sqrt(np.nanmean(variances, axis=0))
                expected = np.sqrt(np.maximum(1 - noise**2, 0)) / noise
            stored = mgh(surf / subject / "betas" / f"{hemi}.ncsnr.mgh").ravel()
            np.testing.assert_allclose(stored, expected, rtol=1e-6, equal_nan=True)
            # NaN only where the vertex is NaN in every trial
            assert np.array_equal(np.isnan(stored), np.isnan(z).all(axis=0))
            assert 0.2 < np.nanmedian(stored) < 1.5


# ---------------------------------------------------------------- assemblies


def test_region_assemblies_hold_all_shared_images(surf):
    counts = rep_counts(surf)
    for region in REGIONS:
        array = region_assembly(surf, region)
        assert array.dims == ("presentation", "neuroid") and array.dtype == np.float32
        assert array["nsd_id"].values.tolist() == shared_ids(surf).tolist()
        assert array["stimulus_id"].values.tolist() == [f"nsd_{i:05d}" for i in shared_ids(surf)]
        assert array["min_reps_across_subjects"].values.tolist() == counts.min(axis=0).tolist()
        reps = set(array["min_reps_across_subjects"].values.tolist())
        assert 3 in reps and min(reps) < 3 and reps <= {0, 1, 2, 3}
        position = 0
        for subject in subjects(surf):  # subject-major, lh then rh
            hemis, verts, reps = raw_reps(surf, subject, region)
            n = hemis.size
            part = array.isel(neuroid=slice(position, position + n))
            assert set(part["subject"].values) == {subject}
            assert part["hemisphere"].values.tolist() == hemis.tolist()
            assert part["vertex_index"].values.tolist() == verts.tolist()
            ids = [f"{subject}_{h}_{region}_v{i:05d}" for i, h in enumerate(hemis)]
            assert part["neuroid_id"].values.tolist() == ids
            with _quiet():
                expected = np.nanmean(reps, axis=1)
            np.testing.assert_allclose(part.values, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
            position += n
        assert position == array.shape[1]
        assert np.isnan(array.values).any()  # NaN kept in the region assemblies


def test_brainscore_presentations_match_the_volume_rules(surf):
    split = pd.read_csv(surf / "assemblies" / "train_test_split_8subj.csv")
    ids = shared_ids(surf)[complete_rows(surf)]
    train_rows, test_rows = split_rows(ids.size)
    assert split["nsd_id"].tolist() == ids.tolist()
    train, test = bs(surf, "train"), bs(surf, "test")
    assert train.dims == test.dims == ("presentation", "neuroid", "time_bin")
    assert train["nsd_id"].values.tolist() == ids[train_rows].tolist()
    assert "repetition" not in train.coords
    assert test["nsd_id"].values.tolist() == np.repeat(ids[test_rows], 3).tolist()
    assert test["repetition"].values.tolist() == [0, 1, 2] * test_rows.size
    for array in (train, test):
        assert array["time_bin_start"].values.tolist() == [70]
        assert array["time_bin_end"].values.tolist() == [170]
        assert array.dtype == np.float32


def test_brainscore_neuroids_region_major(surf):
    train, test = bs(surf, "train"), bs(surf, "test")
    assert list(train["neuroid_id"].values) == list(test["neuroid_id"].values)
    expected_ids, expected_hemi, expected_vertex = [], [], []
    for region in REGIONS:
        for subject in subjects(surf):
            counter = 0
            for hemi in HEMIS:
                for vertex in vertices(surf, hemi, region):
                    expected_ids.append(f"{subject}_{hemi}_{region}_v{counter:05d}")
                    expected_hemi.append(hemi)
                    expected_vertex.append(int(vertex))
                    counter += 1
    assert train["neuroid_id"].values.tolist() == expected_ids
    assert train["hemisphere"].values.tolist() == expected_hemi
    assert train["vertex_index"].values.tolist() == expected_vertex
    pattern = re.compile(r"^subj\d\d_(lh|rh)_(V1|V2|V4|IT)_v\d{5}$")
    assert all(pattern.match(i) for i in expected_ids)
    assert "voxel_x" not in train.coords
    for name in ("neuroid_id", "subject", "hemisphere", "vertex_index", "region", "nc_testset"):
        assert name in train.coords


def test_nc_testset_from_the_ncsnr_files_nan_kept(surf):
    train = bs(surf, "train")
    expected = []
    for subject, hemi, vertex in zip(
        train["subject"].values,
        train["hemisphere"].values,
        train["vertex_index"].values,
        strict=True,
    ):
        ncsnr = mgh(surf / subject / "betas" / f"{hemi}.ncsnr.mgh").ravel()
        expected.append(nc(float(ncsnr[vertex])))
    np.testing.assert_allclose(train["nc_testset"].values, expected, rtol=1e-9, equal_nan=True)
    assert np.isnan(train["nc_testset"].values).any()
    assert (train["nc_testset"].values > 30).sum() > 50


@pytest.mark.parametrize("subject", ["subj01", "subj02"])
@pytest.mark.parametrize("region", REGIONS)
def test_brainscore_values_rederived_from_the_mgh_files(surf, subject, region):
    train, test, _ = expected_brainscore(surf, subject, region)
    np.testing.assert_allclose(
        block(bs(surf, "train"), subject, region), np.nan_to_num(train), rtol=1e-5, atol=1e-5
    )
    got = block(bs(surf, "test"), subject, region)
    np.testing.assert_allclose(
        got, np.nan_to_num(test).reshape(-1, test.shape[2]), rtol=1e-5, atol=1e-5
    )


def test_nan_cells_are_zero_and_per_repetition_filling_shows(surf):
    counts = {"filled_train": 0, "filled_test_repetitions": 0, "test_mean_differs": 0}
    differs = 0
    for region in REGIONS:
        for subject in subjects(surf):
            train, test, style = expected_brainscore(surf, subject, region)
            stored_train = block(bs(surf, "train"), subject, region)
            stored_test = block(bs(surf, "test"), subject, region).reshape(test.shape)
            assert not np.isnan(stored_train).any() and not np.isnan(stored_test).any()
            assert np.all(stored_train[np.isnan(train)] == 0)
            assert np.all(stored_test[np.isnan(test)] == 0)
            partial = np.isnan(test).any(axis=1) & ~np.isnan(test).all(axis=1)
            gap = np.abs(stored_test.mean(axis=1) - np.nan_to_num(style))
            differs += int((gap[partial] > 1e-4).sum())
            assert np.all(gap[~np.isnan(test).any(axis=1)] < 1e-4)
            counts["filled_train"] += int(np.isnan(train).sum())
            counts["filled_test_repetitions"] += int(np.isnan(test).sum())
            counts["test_mean_differs"] += int(partial.sum())
    assert differs >= 1
    assert counts == truth(surf)["surface"]["nan_cells"]
    assert counts["filled_train"] > 0 and counts["test_mean_differs"] > 0


def test_benchmark_surface_files(both):
    for region in REGIONS:
        report = json.loads((both / SCORES[region]).read_text())
        assert report["benchmark"] == f"Allen2022_fmri_surface.{region}-ridge"
        assert set(report) >= {"score", "raw", "ceiling", "subjects"}
        assert list(report["subjects"]) == ["subj01", "subj02"]
        assert truth(both)["surface"]["scores"][region] == report["score"]
        for split in ("train", "test"):
            surface = open_array(both / "benchmark_surface" / region / f"activations_{split}.nc")
            volume = open_array(both / "benchmark" / region / f"activations_{split}.nc")
            assert surface.identical(volume)  # one model for both families


def test_subject_raw_score_reproduced(surf):
    region, subject = "V4", "subj01"
    train, test = bs(surf, "train"), bs(surf, "test")
    keep = (train["region"].values == region) & (train["nc_testset"].values > 30)
    keep &= train["subject"].values == subject
    acts = {
        s: open_array(surf / "benchmark_surface" / region / f"activations_{s}.nc")
        for s in ("train", "test")
    }
    assert acts["train"]["stimulus_id"].values.tolist() == train["stimulus_id"].values.tolist()
    y = np.asarray(train.values[:, keep, 0], dtype=np.float64)
    target = np.asarray(test.values[:, keep, 0], dtype=np.float64).reshape(-1, 3, keep.sum())
    model = Ridge(alpha=1.0).fit(np.asarray(acts["train"].values, np.float64), y)
    prediction = model.predict(np.asarray(acts["test"].values, np.float64))
    r = [np.corrcoef(prediction[:, i], target.mean(axis=1)[:, i])[0, 1] for i in range(keep.sum())]
    report = json.loads((surf / SCORES[region]).read_text())
    assert report["subjects"][subject]["raw"] == pytest.approx(np.median(r), abs=1e-6)
    assert 0.1 < report["score"] < 1


def test_volume_family_unchanged_by_the_surface(both, tmp_path):
    volume = synthesize(tmp_path / "vol", preset="tiny")
    for path in volume.rglob("*"):
        if path.is_file() and path.suffix not in (".mat", ".json"):
            other = both / path.relative_to(volume)
            assert path.read_bytes() == other.read_bytes(), path
    a, b = truth(volume), truth(both)
    assert {k: v for k, v in b.items() if k not in ("spaces", "surface")} == a


def test_same_seed_same_tree(surf, tmp_path):
    again = synthesize(tmp_path / "again", preset="tiny", space="surface")
    for path in surf.rglob("*"):
        if path.is_file() and path.suffix != ".mat":
            assert path.read_bytes() == (again / path.relative_to(surf)).read_bytes(), path


# ---------------------------------------------------------------- faults


def fingerprint(root):
    """Content digest of every file (the .mat by its arrays, synth.json left out)."""
    digests = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name == "synth.json":
            continue
        if path.suffix == ".mat":
            data = b"".join(a.tobytes() for a in expdesign(root))
        else:
            data = path.read_bytes()
        digests[str(path.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return digests


def changed_files(clean, faulted):
    a, b = fingerprint(clean), fingerprint(faulted)
    assert set(a) == set(b)
    return {name for name in a if a[name] != b[name]}


def scores_of(root):
    """Every number of every score.json and score_rdm.json, flattened."""
    numbers = {}
    for region in REGIONS:
        for kind, path in (("ridge", SCORES[region]), ("rdm", RDM_SCORES[region])):
            report = json.loads((root / path).read_text())
            keys = ("score", "raw", "ceiling", "lower_bound_loo")
            numbers.update({(kind, region, k): report[k] for k in keys if k in report})
            for subject, values in report["subjects"].items():
                numbers.update({(kind, region, subject, k): v for k, v in values.items()})
    return numbers


def _check_hemispheres_swapped(clean, faulted):
    for split in ("train", "test"):
        c, f = bs(clean, split), bs(faulted, split)
        assert c["neuroid_id"].values.tolist() == f["neuroid_id"].values.tolist()
        for region in REGIONS:
            for subject in subjects(clean):
                keep = (c["subject"].values == subject) & (c["region"].values == region)
                hemi = c["hemisphere"].values[keep]
                values = c.values[:, keep, 0]
                swapped = np.concatenate(
                    [values[:, hemi == "rh"], values[:, hemi == "lh"]], axis=1
                )
                np.testing.assert_array_equal(f.values[:, keep, 0], swapped)


def _check_vertex_index(clean, faulted):
    for split in ("train", "test"):
        c, f = bs(clean, split), bs(faulted, split)
        assert np.array_equal(f["vertex_index"].values, c["vertex_index"].values + 1)
        assert c.drop_vars("vertex_index").identical(f.drop_vars("vertex_index"))


def _check_labels_swapped(clean, faulted):
    for region in REGIONS:
        array = region_assembly(faulted, region)
        part = array.isel(neuroid=array["subject"].values == "subj01")
        hemis, verts, reps = raw_reps(clean, "subj01", region, swap=True)
        assert part["vertex_index"].values.tolist() == verts.tolist()
        assert part["hemisphere"].values.tolist() == hemis.tolist()
        with _quiet():
            expected = np.nanmean(reps, axis=1)
        np.testing.assert_allclose(part.values, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
    lh_v1 = bs(faulted, "train").isel(time_bin=0)
    rows = (lh_v1["region"].values == "V1") & (lh_v1["hemisphere"].values == "lh")
    assert set(lh_v1["vertex_index"].values[rows]) == set(vertices(clean, "rh", "V1"))


def _check_nan_not_filled(clean, faulted):
    for split in ("train", "test"):
        c, f = bs(clean, split).values, bs(faulted, split).values
        missing = np.isnan(f)
        assert missing.any() and np.all(c[missing] == 0)
        np.testing.assert_array_equal(c[~missing], f[~missing])


def _check_test_filled_like_train(clean, faulted):
    assert bs(clean, "train").identical(bs(faulted, "train"))
    for region in REGIONS:
        for subject in subjects(clean):
            _, test, style = expected_brainscore(clean, subject, region)
            stored = block(bs(faulted, "test"), subject, region).reshape(test.shape)
            expected = np.where(np.isnan(test), style[:, None, :], test)
            np.testing.assert_allclose(stored, np.nan_to_num(expected), rtol=1e-5, atol=1e-5)


def _check_stage1_nan_aware(clean, faulted):
    for region in ("V2", "IT"):
        array = region_assembly(faulted, region)
        for subject in subjects(clean):
            _, _, reps = raw_reps(clean, subject, region, nan_aware=True)
            with _quiet():
                expected = np.nanmean(reps, axis=1)
            got = array.values[:, array["subject"].values == subject]
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True)


def _check_v2_from_v3(clean, faulted):
    array = region_assembly(faulted, "V2")
    for hemi in HEMIS:
        rows = (array["subject"].values == "subj02") & (array["hemisphere"].values == hemi)
        assert (
            array["vertex_index"].values[rows].tolist()
            == vertices(clean, hemi, "V2", [5, 6]).tolist()
        )
    train = bs(faulted, "train")
    assert (train["region"].values == "V2").sum() != (
        bs(clean, "train")["region"].values == "V2"
    ).sum()


def _check_nc_other_hemisphere(clean, faulted):
    f = bs(faulted, "train")
    other = {"lh": "rh", "rh": "lh"}
    expected = [
        nc(float(mgh(clean / s / "betas" / f"{other[h]}.ncsnr.mgh").ravel()[v]))
        for s, h, v in zip(
            f["subject"].values, f["hemisphere"].values, f["vertex_index"].values, strict=True
        )
    ]
    np.testing.assert_allclose(f["nc_testset"].values, expected, rtol=1e-9, equal_nan=True)
    assert bs(clean, "train").drop_vars("nc_testset").identical(f.drop_vars("nc_testset"))


def _check_subject_major(clean, faulted):
    for split in ("train", "test"):
        c, f = bs(clean, split), bs(faulted, split)
        pairs = list(zip(f["subject"].values, f["region"].values, strict=True))
        keys = [(s, REGIONS.index(r)) for s, r in pairs]
        assert keys == sorted(keys) and f["subject"].values[0] == f["subject"].values[1]
        assert c["neuroid_id"].values.tolist() != f["neuroid_id"].values.tolist()
        aligned = f.set_index(neuroid="neuroid_id").sel(neuroid=c["neuroid_id"].values)
        np.testing.assert_array_equal(aligned.values, c.values)


def _check_ids_per_hemisphere(clean, faulted):
    c, f = bs(clean, "train"), bs(faulted, "train")
    assert c.drop_vars("neuroid_id").identical(f.drop_vars("neuroid_id"))
    rh_first = (f["hemisphere"].values == "rh") & np.r_[True, f["hemisphere"].values[:-1] == "lh"]
    assert all(i.endswith("_v00000") for i in f["neuroid_id"].values[rh_first])
    assert len(set(f["neuroid_id"].values)) == f.shape[1]


def _check_3rep_only(clean, faulted):
    for region in REGIONS:
        c, f = region_assembly(clean, region), region_assembly(faulted, region)
        keep = c["min_reps_across_subjects"].values == 3
        assert f.shape[0] == keep.sum() < c.shape[0]
        assert c.isel(presentation=keep).identical(f)


def _check_rep_mean_not_nan_aware(clean, faulted):
    for region in REGIONS:
        array = region_assembly(faulted, region)
        for subject in subjects(clean):
            _, _, reps = raw_reps(clean, subject, region)
            got = array.values[:, array["subject"].values == subject]
            np.testing.assert_allclose(
                got, reps.mean(axis=1), rtol=1e-5, atol=1e-6, equal_nan=True
            )


# fault -> (files that change besides score.json and score_rdm.json, check, scores must stay
# equal)
FAULT_CASES = {
    "surface-hemispheres-swapped": (set(BS), _check_hemispheres_swapped, False),
    "surface-vertex-index-off-by-one": (set(BS), _check_vertex_index, True),
    "surface-labels-lr-swapped": (set(BS) | set(RA.values()), _check_labels_swapped, False),
    "surface-nan-not-filled": (set(BS), _check_nan_not_filled, True),
    "surface-test-reps-filled-like-train": ({BS[1]}, _check_test_filled_like_train, False),
    "surface-stage1-nan-aware": (set(BS) | {RA["V2"], RA["IT"]}, _check_stage1_nan_aware, False),
    "surface-v2-from-v3": (set(BS) | {RA["V2"]}, _check_v2_from_v3, False),
    "surface-nc-other-hemisphere": (set(BS), _check_nc_other_hemisphere, False),
    "surface-subject-major": (set(BS), _check_subject_major, False),
    "surface-ids-per-hemisphere": (set(BS), _check_ids_per_hemisphere, True),
    "surface-region-assembly-3rep-only": (set(RA.values()), _check_3rep_only, True),
    # the region assemblies also hold images seen fewer than 3 times: every region changes
    "surface-rep-mean-not-nan-aware": (
        set(BS) | set(RA.values()),
        _check_rep_mean_not_nan_aware,
        False,
    ),
}


def test_every_surface_fault_is_tested_and_described():
    assert set(FAULT_CASES) == set(SURFACE_FAULTS) and len(SURFACE_FAULTS) >= 8
    assert not set(SURFACE_FAULTS) & set(FAULTS)
    assert all(name.startswith("surface-") and text for name, text in SURFACE_FAULTS.items())


@pytest.mark.parametrize("fault", list(SURFACE_FAULTS))
def test_surface_fault_manifests(surf, tmp_path, fault):
    faulted = synthesize(tmp_path / fault, preset="tiny", space="surface", fault=fault)
    t = truth(faulted)
    assert t["fault"] == fault and t["fault_description"] == SURFACE_FAULTS[fault]
    expected, check, same_scores = FAULT_CASES[fault]
    changed = changed_files(surf, faulted)
    assert changed - set(SCORES.values()) - set(RDM_SCORES.values()) == expected
    if same_scores:
        assert scores_of(faulted) == pytest.approx(scores_of(surf), rel=1e-12)
    check(surf, faulted)


def test_volume_fault_leaves_the_surface_alone(both, tmp_path):
    faulted = synthesize(tmp_path / "f", preset="tiny", space="all", fault="ddof1")
    changed = changed_files(both, faulted)
    assert changed and not [name for name in changed if "surface" in name]


# ---------------------------------------------------------------- parameters and CLI


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"space": "cortex"}, "space.*volume, surface, all"),
        ({"space": ""}, "space"),
        ({"layout": "bids"}, "layout.*packaging or official"),
        ({"fault": "surface-v2-from-v3"}, "surface fault; space has no surface"),
        ({"space": "surface", "fault": "ddof1"}, "volume fault; space has no volume"),
        ({"space": "surface", "fault": "nope"}, "fault.*surface-hemispheres-swapped"),
        ({"preset": "full", "space": "surface", "fault": "surface-v2-from-v3"}, "no packaged"),
    ],
)
def test_bad_parameters(tmp_path, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        synthesize(tmp_path / "out", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_synth_command_space_and_layout(monkeypatch, tmp_path, capsys):
    seen = {}
    monkeypatch.setattr(
        "nsdval.synth.synthesize", lambda path, **kwargs: seen.update(kwargs) or path
    )
    args = ["synth", str(tmp_path / "t"), "--space", "surface", "--layout", "official"]
    assert cli.main(args) == 0
    assert seen["space"] == "surface" and seen["layout"] == "official"
    seen.clear()
    assert cli.main(["synth", str(tmp_path / "u")]) == 0
    assert "space" not in seen and "layout" not in seen  # the defaults stay synthesize()'s
    monkeypatch.undo()
    capsys.readouterr()
    assert cli.main(["synth", "--list-faults"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == [*FAULTS, *RDM_FAULTS, *SURFACE_FAULTS]


def test_synth_command_writes_both_families(tmp_path):
    assert cli.main(["synth", str(tmp_path / "t"), "--space", "all"]) == 0
    assert truth(tmp_path / "t")["spaces"] == ["volume", "surface"]
    assert (tmp_path / "t" / BS[0]).is_file()
    assert (tmp_path / "t" / "brainscore" / "Allen2022_fmri_train_8subj.nc").is_file()


# ---------------------------------------------------------------- demo and full


@pytest.mark.slow
def test_demo_preset(tmp_path):
    root = synthesize(tmp_path / "demo", preset="demo", space="surface")
    t = truth(root)["surface"]
    assert len(subjects(root)) == 8 and t["n_vertices"] == 2562
    assert 100 <= t["n_images"] <= 130 and t["n_shared"] > t["n_images"]
    assert t["nan_cells"]["test_mean_differs"] > 0
    for region in REGIONS:
        report = json.loads((root / SCORES[region]).read_text())
        assert 0.2 <= report["raw"] <= 0.7, (region, report["raw"])


def test_full_preset_has_real_fsaverage_sizes():
    surface = presets.get_preset("full").surface
    assert surface.n_vertices == 163842
    sizes = surface.sizes
    assert (sizes["lh"]["V1"], sizes["rh"]["V1"]) == (2153, 2123)
    assert (sizes["lh"]["V2"], sizes["rh"]["V2"]) == (1643, 1748)
    assert (sizes["lh"]["V4"], sizes["rh"]["V4"]) == (410, 504)
    assert sizes["lh"]["IT"] + sizes["rh"]["IT"] == 19065
    assert sizes["lh"]["nsdgeneral"] + sizes["rh"]["nsdgeneral"] == 37984
    for name in ("tiny", "demo"):
        assert presets.get_preset(name).surface.n_vertices not in (163842,)


@pytest.fixture
def small_full(monkeypatch):
    full = presets.get_preset("full")
    small = dataclasses.replace(
        full,
        shapes=((20, 26, 21),),
        trials=40,
        sessions=(3,),
        n_assembly=30,
        n_twice=4,
        n_features=50,
        region_sizes={"V1": 30, "V2": 31, "V4": 12, "IT": 90},
        surface=dataclasses.replace(
            full.surface,
            n_vertices=2562,
            sizes={
                h: {"V1": 40, "V2": 30, "V3": 30, "V4": 10, "IT": 200, "nsdgeneral": 500}
                for h in HEMIS
            },
        ),
    )
    monkeypatch.setitem(presets._PRESETS, "full", small)
    return small


def test_full_surface_tree(small_full, tmp_path):
    root = synthesize(tmp_path / "full", preset="full", space="surface", sessions=2)
    assert sorted(p.name for p in root.iterdir()) == [
        "fsaverage_labels",
        "metadata",
        "subj01",
        "synth.json",
    ]
    t = truth(root)["surface"]
    assert t["benchmark_dataset"] and t["sessions"] == 2 and t["n_vertices"] == 2562
    names = sorted(p.name for p in (root / "subj01" / "betas").iterdir())
    assert names == [f"{h}.betas_session0{n}.mgh" for h in HEMIS for n in (1, 2)]
    for hemi in HEMIS:
        values = betas(root, "subj01", hemi)
        assert values.shape == (80, 2562)
        assert np.isnan(values).all(axis=0).sum() == len(t["nan_vertices"][hemi]["all"])
        assert np.isnan(values).any(axis=0).sum() > np.isnan(values).all(axis=0).sum()
        for region in REGIONS:
            assert vertices(root, hemi, region).size == t["vertices"][region][hemi]
        image = nib.load(session_paths(root, "subj01", hemi)[0])
        assert image.shape == (2562, 1, 1, 40) and image.get_data_dtype() == np.dtype(">f4")


def test_full_surface_and_volume_share_the_design(small_full, tmp_path):
    volume = synthesize(tmp_path / "v", preset="full", sessions=1)
    surface = synthesize(tmp_path / "s", preset="full", space="surface", sessions=1)
    both = synthesize(tmp_path / "b", preset="full", space="all", sessions=1)
    for a, b in zip(expdesign(volume), expdesign(surface), strict=True):
        np.testing.assert_array_equal(a, b)
    for path in surface.rglob("*.mg[hz]"):
        assert path.read_bytes() == (both / path.relative_to(surface)).read_bytes()
    for path in volume.rglob("*.hdf5"):
        assert path.read_bytes() == (both / path.relative_to(volume)).read_bytes()
