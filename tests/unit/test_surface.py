"""nsdval.data.surface: the fsaverage reader behind the data-space seam, on hand-made files.

The files are written here with plain nibabel (not by nsdval's generator) and the expected
values come from nibabel's own full read, so the reader is checked against the format.
"""

import hashlib

import nibabel as nib
import numpy as np
import pytest

from nsdval.data.layout import NsdLayout
from nsdval.data.spaces import open_space
from nsdval.data.surface import mgh
from nsdval.data.surface.space import SurfaceSpace
from nsdval.errors import InputError, MissingInputError

N_VERTICES = {"lh": 37, "rh": 41}  # not fsaverage's 163 842: nothing may hard-code it
TRIALS = 6


def save_mgh(path, values):
    path.parent.mkdir(parents=True, exist_ok=True)
    values = np.asarray(values, dtype=np.float32)
    shape = (values.shape[0], 1, 1, *values.shape[1:])  # labels (n, 1, 1), betas (n, 1, 1, T)
    nib.save(nib.MGHImage(values.reshape(shape), np.eye(4)), path)


def write_tree(root, kind, rng, n_sessions=2):
    layout = NsdLayout(root, kind, space="surface")
    for hemi, n in N_VERTICES.items():
        kastner = np.zeros(n)
        kastner[[3, 9, 10]] = 1  # V1v
        kastner[[20]] = 2  # V1d
        kastner[[5, 6]] = 7  # hV4
        streams = np.zeros(n)
        streams[[1, n - 1]] = 5
        save_mgh(layout.fsaverage_label(hemi, "Kastner2015"), kastner)
        save_mgh(layout.fsaverage_label(hemi, "streams"), streams)
        for session in range(1, n_sessions + 1):
            betas = rng.normal(size=(n, TRIALS))
            betas[9, 2] = np.nan  # NSD's surface betas hold NaN
            save_mgh(layout.surface_betas(1, session, hemi), betas)
        save_mgh(layout.surface_ncsnr(1, hemi), rng.uniform(0, 1, size=n))
    return layout


@pytest.fixture(params=["packaging", "official"])
def layout(request, tmp_path, rng):
    return write_tree(tmp_path / "nsd", request.param, rng)


def full(path):
    return np.asarray(nib.load(path).get_fdata(dtype=np.float64))[:, 0, 0, :]


def test_the_layout_picks_the_surface_space_and_its_paths(layout):
    space = open_space(layout)
    assert isinstance(space, SurfaceSpace)
    assert space.sessions(1) == [1, 2]
    assert space.trials_per_session(1) == TRIALS
    assert [p.name for p in space.session_paths(1, 2)] == [
        "lh.betas_session02.mgh",
        "rh.betas_session02.mgh",
    ]
    if layout.kind == "official":
        assert "fsaverage/betas_fithrf_GLMdenoise_RR" in str(space.betas_dir(1))
        assert str(layout.fsaverage_label_dir()).endswith("nsddata/freesurfer/fsaverage/label")
    assert layout.brainscore_assembly("train").name == "Allen2022_fmri_surface_train_8subj.nc"
    assert layout.region_assembly("V4").name == "Allen2022_surface.V4_8subj.nc"
    assert layout.score("V4").parent.parent.name == "benchmark_surface"


def test_regions_are_lh_then_rh_each_ascending(layout):
    space = open_space(layout)
    assert space.region_units(1, "V1").tolist() == [
        [0, 3], [0, 9], [0, 10], [0, 20], [1, 3], [1, 9], [1, 10], [1, 20]
    ]  # fmt: skip
    assert space.region_units(1, "IT").tolist() == [[0, 1], [0, 36], [1, 1], [1, 40]]
    with pytest.raises(InputError, match="no vertex of region V2"):
        space.region_units(1, "V2")


@pytest.mark.parametrize("order", ["region-major", "file order"])
def test_read_stored_equals_nibabels_full_read_nan_included(layout, order):
    space = open_space(layout)
    units = np.concatenate([space.region_units(1, r) for r in ("V1", "V4", "IT")])
    if order == "file order":  # each hemisphere one run of columns, read in place
        units = units[np.lexsort(units.T[::-1])]
    got = space.read_stored(1, 2, units)
    assert got.dtype == np.float32 and got.shape == (TRIALS, len(units))
    lh, rh = (full(layout.surface_betas(1, 2, h)) for h in ("lh", "rh"))
    expected = np.stack([(lh if h == 0 else rh)[v] for h, v in units], axis=1)
    np.testing.assert_array_equal(got, expected.astype(np.float32))
    assert np.isnan(got).sum() == 2  # vertex 9 of each hemisphere, trial 2
    np.testing.assert_array_equal(space.psc(got), got)  # already percent signal change


def test_the_digest_covers_the_values_read_as_stored(layout):
    space = open_space(layout)
    units = space.region_units(1, "V4")
    digests = {}
    space.read_stored(1, 1, units, digest_for=lambda p: digests.setdefault(p, hashlib.sha256()))
    lh = layout.surface_betas(1, 1, "lh")
    stored = full(lh)[[5, 6]].T.astype(">f4")  # (trials, vertices), big-endian as on disk
    assert digests[lh].hexdigest() == hashlib.sha256(stored.tobytes()).hexdigest()


def test_ncsnr_is_read_at_the_vertices_or_none_without_files(layout):
    space = open_space(layout)
    units = space.region_units(1, "IT")
    lh, rh = (
        np.asarray(nib.load(layout.surface_ncsnr(1, h)).get_fdata()).ravel() for h in ("lh", "rh")
    )
    np.testing.assert_array_equal(space.read_ncsnr(1, units), [lh[1], lh[36], rh[1], rh[40]])
    for hemi in ("lh", "rh"):
        layout.surface_ncsnr(1, hemi).unlink()
    assert space.read_ncsnr(1, units) is None


def test_the_nsdgeneral_ncsnr_is_lh_then_rh_at_the_positive_labels(layout):
    space = open_space(layout)
    assert "no {lh,rh}.nsdgeneral.mgz in" in space.nsdgeneral_missing()
    general = {"lh": np.zeros(37), "rh": np.zeros(41)}
    general["lh"][[0, 4, 30]] = 1
    general["rh"][[2, 40]] = 1
    general["rh"][7] = -1  # not positive: outside the mask
    for hemi, values in general.items():
        save_mgh(layout.fsaverage_label(hemi, "nsdgeneral"), values)
    lh, rh = (
        np.asarray(nib.load(layout.surface_ncsnr(1, h)).get_fdata()).ravel() for h in ("lh", "rh")
    )
    space = open_space(layout)
    assert space.nsdgeneral_missing() is None
    np.testing.assert_array_equal(space.nsdgeneral_ncsnr(1), [lh[0], lh[4], lh[30], rh[2], rh[40]])
    assert space.nsdgeneral_ncsnr(2) is None  # no ncsnr file: not measured
    save_mgh(layout.fsaverage_label("rh", "nsdgeneral"), np.zeros(40))
    with pytest.raises(InputError, match=r"rh.nsdgeneral.mgz: 40 labels, rh.ncsnr.mgh holds 41"):
        open_space(layout).nsdgeneral_ncsnr(1)
    layout.fsaverage_label("lh", "nsdgeneral").unlink()
    with pytest.raises(MissingInputError, match=r"lh.nsdgeneral.mgz"):
        open_space(layout).nsdgeneral_ncsnr(1)  # a lone label file cannot be read


def test_the_volume_space_has_no_nsdgeneral_mask(tmp_path):
    space = open_space(NsdLayout(tmp_path, "packaging"))
    assert space.nsdgeneral_missing().startswith("the volume space has no fsaverage nsdgeneral")
    with pytest.raises(NotImplementedError, match="volume space"):
        space.nsdgeneral_ncsnr(1)


def test_assembly_units_map_hemisphere_names(layout):
    import xarray as xr

    neuroids = xr.DataArray(
        np.zeros((1, 3)),
        dims=("presentation", "neuroid"),
        coords={
            "hemisphere": ("neuroid", ["lh", "rh", "xh"]),
            "vertex_index": ("neuroid", [4, 5, 6]),
        },
    )
    space = open_space(layout)
    assert space.assembly_units(neuroids).tolist() == [[0, 4], [1, 5], [-1, 6]]
    assert space.unit_label([1, 5]) == "rh 5"


def test_the_preflight_passes_clean_files_and_names_broken_ones(layout):
    space = open_space(layout)
    assert space.check_subject(1, ["V1", "V4", "IT"]) == TRIALS
    path = layout.surface_betas(1, 2, "rh")
    path.write_bytes(path.read_bytes()[:400])
    with pytest.raises(InputError, match=r"rh.betas_session02.mgh: truncated"):
        SurfaceSpace(layout).check_subject(1, ["V1"])
    path.unlink()
    with pytest.raises(MissingInputError, match=r"rh.betas_session02.mgh: missing surface betas"):
        SurfaceSpace(layout).check_subject(1, ["V1"])


def test_label_files_must_hold_one_label_per_vertex(layout):
    save_mgh(layout.fsaverage_label("rh", "Kastner2015"), np.zeros(40))
    with pytest.raises(InputError, match=r"rh.Kastner2015.mgz: 40 labels, the rh betas hold 41"):
        open_space(layout).region_units(1, "V4")


def test_a_session_of_another_shape_is_named(layout, rng):
    save_mgh(layout.surface_betas(1, 2, "lh"), rng.normal(size=(37, TRIALS + 1)))
    with pytest.raises(InputError, match=r"lh.betas_session02.mgh: shape \(37, 1, 1, 7\) diff"):
        open_space(layout).read_stored(1, 2, np.array([[0, 3]]))


def test_reads_touch_only_the_wanted_vertices(tmp_path, rng):
    path = tmp_path / "lh.betas_session01.mgh"
    save_mgh(path, rng.normal(size=(5000, 3)))
    values = mgh.read_vertices(path, [4999, 0, 17])
    np.testing.assert_array_equal(values, full(path)[[4999, 0, 17]].T.astype(np.float32))
    with pytest.raises(InputError, match="vertices outside the hemisphere's 5000"):
        mgh.read_vertices(path, [5000])


def test_a_read_maps_a_window_of_trials_at_a_time(tmp_path, rng, monkeypatch):
    path = tmp_path / "lh.betas_session01.mgh"
    save_mgh(path, rng.normal(size=(5000, 10)))  # 20 000 bytes per trial
    vertices = [4999, 0, 17, 2500]
    mapped, memmap = [], np.memmap
    monkeypatch.setattr(np, "memmap", lambda *a, **k: mapped.append(k["shape"]) or memmap(*a, **k))
    digest = hashlib.sha256()
    values = mgh.read_vertices(path, vertices, digest=digest, window_bytes=3 * 20_000)
    assert mapped == [(3, 5000), (3, 5000), (3, 5000), (1, 5000)]  # a mapped page is resident
    stored = full(path)[vertices].T.astype(">f4")  # (trials, vertices) as on disk
    np.testing.assert_array_equal(values, stored.astype(np.float32))
    assert digest.hexdigest() == hashlib.sha256(stored.tobytes()).hexdigest()


def test_the_pages_asked_for_are_those_holding_the_wanted_values(tmp_path, rng, monkeypatch):
    path = tmp_path / "rh.betas_session01.mgh"
    save_mgh(path, rng.normal(size=(9000, 7)))  # 36 000 bytes per trial: pages straddle trials
    vertices = np.concatenate([np.arange(100, 180), [3000, 3900, 8999], rng.choice(9000, 5)])
    asked = []
    monkeypatch.setattr(mgh.os, "posix_fadvise", lambda fd, at, n, advice: asked.append((at, n)))
    mgh.read_vertices(path, vertices, window_bytes=2 * 36_000)
    page = mgh.PAGE
    assert all(at % page == 0 and 0 < n <= mgh.PREFETCH_BYTES for at, n in asked)
    got = [p for at, n in asked for p in range(at // page, (at + n) // page)]
    offset = nib.load(path).header.get_data_offset()
    trials = np.arange(7)[:, None]
    holding = np.unique((offset + 4 * (vertices[None, :] + 9000 * trials)) // page)
    assert sorted(set(got)) == holding.tolist()  # none without a wanted value
    assert len(got) - len(set(got)) <= 3  # asked twice: a page straddling two windows
