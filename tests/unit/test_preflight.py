"""nsdval.data.preflight: each check passes on the clean tiny tree and names the file and fault
of a broken copy."""

import shutil
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import xarray as xr

from nsdval.data import preflight, sessions
from nsdval.data.expdesign import ExpDesign, load_expdesign
from nsdval.data.layout import REGIONS, detect_layout
from nsdval.data.spaces import open_space
from nsdval.data.volume import nifti
from nsdval.data.volume.space import check_region_fits, check_session_headers
from nsdval.errors import InputError, MissingInputError

PRF = "subj01/rois/prf-visualrois.nii.gz"


@pytest.fixture(scope="module")
def clean_tree(tmp_path_factory):
    from nsdval.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("nsd") / "tiny", preset="tiny", seed=0)


@pytest.fixture
def tree(clean_tree, tmp_path):
    return Path(shutil.copytree(clean_tree, tmp_path / "nsd"))


@pytest.fixture
def layout(tree):
    return detect_layout(tree)


def rewrite_betas(path, change):
    with h5py.File(path, "r") as f:
        values = change(f["betas"][:])
    path.unlink()
    with h5py.File(path, "w") as f:
        f.create_dataset("betas", data=values)


def rewrite_nifti(path, change):
    image = nib.load(path)
    data = change(np.asarray(image.get_fdata()))
    nib.save(nib.Nifti1Image(data.astype(np.float32), image.affine), path)


def rewrite_netcdf(path, change):
    with xr.open_dataarray(path) as opened:
        array = change(opened.load())
    array.encoding = {}  # else an older xarray writes the old coordinate list back
    array.to_netcdf(path)


# --- the clean tree ----------------------------------------------------------------------
def test_the_clean_tree_passes_every_check(clean_tree):
    layout = detect_layout(clean_tree)
    assert preflight.check_inputs(layout, [1, 2], REGIONS) is None
    assert check_session_headers(open_space(layout), 2)[0] > 0
    assert preflight.assembly_subjects(layout) == [1, 2]


@pytest.mark.parametrize(
    "parameters",
    [{"subject": 1, "region": "IT"}, {"regions": "V1,V4"}],
    ids=["validation", "structure"],
)
def test_report_inputs_pass_on_the_clean_tree(clean_tree, parameters):
    assert preflight.check_report_inputs({"nsd_root": str(clean_tree), **parameters}) is None


def test_report_inputs_name_a_broken_file(tree):
    (tree / "benchmark/V1/score.json").unlink()
    with pytest.raises(MissingInputError, match=r"V1/score.json: missing reported benchmark"):
        preflight.check_report_inputs({"nsd_root": str(tree), "subject": 2, "region": "V1"})


# --- sessions and betas ------------------------------------------------------------------
def test_session_numbers_must_start_at_one_without_gaps(layout, tree):
    assert sessions.check_session_numbers(open_space(layout), 1) == [1, 2, 3, 4]
    (tree / "subj01/betas/betas_session03.hdf5").unlink()
    with pytest.raises(MissingInputError) as info:
        sessions.check_session_numbers(open_space(layout), 1)
    assert info.value.path.endswith("subj01/betas/betas_session03.hdf5")
    assert "missing betas session 3 of subj01 (3 session files, numbered up to 4)" in str(
        info.value
    )


def test_a_subject_without_sessions_or_folder_is_missing(layout, tree):
    for path in (tree / "subj02/betas").glob("*.hdf5"):
        path.unlink()
    with pytest.raises(MissingInputError, match="subj02/betas: missing betas_sessionNN"):
        sessions.check_session_numbers(open_space(layout), 2)
    with pytest.raises(MissingInputError, match="subj03/betas: missing betas folder of subj03"):
        sessions.check_session_numbers(open_space(layout), 3)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda v: np.pad(v, ((0, 0), (1, 0), (0, 0), (0, 0))), "differs from betas_session01"),
        (lambda v: v[:10], "differs from betas_session01"),
        (lambda v: v.astype(np.float64), "should be int16 (trials, Z, Y, X), found float64"),
        (lambda v: v.reshape(v.shape[0], -1), "should be int16 (trials, Z, Y, X)"),
    ],
    ids=["spatial", "trials", "dtype", "2-D"],
)
def test_every_session_header_is_checked(layout, tree, change, words):
    path = tree / "subj01/betas/betas_session04.hdf5"
    rewrite_betas(path, change)
    with pytest.raises(InputError) as info:
        check_session_headers(open_space(layout), 1)
    assert info.value.path == str(path)
    assert words in info.value.problem


def test_a_truncated_session_is_not_a_readable_hdf5_file(layout, tree):
    path = tree / "subj02/betas/betas_session02.hdf5"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(InputError, match=r"session02.hdf5: not a readable HDF5 file \(.*trunc"):
        check_session_headers(open_space(layout), 2)


def test_the_design_must_cover_every_session():
    design = ExpDesign(np.arange(1, 11), np.ones((2, 10), int), np.array([1]), path="d.mat")
    preflight.check_design_covers(design, 2, 2, 5)
    with pytest.raises(InputError, match="d.mat: masterordering has 10 trials, subj01's 3 ses"):
        preflight.check_design_covers(design, 1, 3, 5)
    with pytest.raises(InputError, match="d.mat: no subjectim row for subj03"):
        preflight.check_design_covers(design, 3, 1, 5)


def test_a_subject_of_the_assemblies_needs_betas_even_when_not_validated(layout, tree):
    shutil.rmtree(tree / "subj02")
    with pytest.raises(MissingInputError, match="subj02/betas: missing betas folder of subj02"):
        preflight.check_inputs(layout, [1], ["V4"])


# --- ROI and ncsnr volumes ---------------------------------------------------------------
def check_rois(layout, subject, regions, spatial_shape):
    for region in regions:
        check_region_fits(layout, subject, region, spatial_shape)


def test_volumes_must_be_the_betas_volume_reversed(tree):
    path = tree / PRF
    spatial = check_session_headers(open_space(detect_layout(tree)), 1)[1:]
    nifti.check_volume_fits(path, spatial, "ROI volume")
    rewrite_nifti(path, lambda d: d.T)
    with pytest.raises(InputError) as info:
        nifti.check_volume_fits(path, spatial, "ROI volume")
    assert info.value.path == str(path)
    assert f"shape {spatial} (X, Y, Z) does not match" in info.value.problem
    assert f"reversed, {spatial[::-1]}" in info.value.problem
    path.write_bytes(b"junk")
    with pytest.raises(InputError, match="not a readable NIfTI volume"):
        nifti.check_volume_fits(path, spatial, "ROI volume")


@pytest.mark.parametrize(
    ("region", "name", "labels"),
    [("V4", "prf-visualrois", [7]), ("V2", "prf-visualrois", [3, 4])],
)
def test_a_region_without_voxels_is_refused(layout, tree, region, name, labels):
    path = tree / f"subj01/rois/{name}.nii.gz"
    rewrite_nifti(path, lambda d: np.where(np.isin(d, labels), 0, d))
    spatial = check_session_headers(open_space(layout), 1)[1:]
    others = [r for r in REGIONS if r != region]
    check_rois(layout, 1, others, spatial)
    with pytest.raises(InputError) as info:
        check_rois(layout, 1, [region], spatial)
    assert info.value.path == str(path)
    assert info.value.problem == f"no voxel of region {region} in {name}.nii.gz"


def test_it_reads_both_streams_hemispheres_else_the_bilateral_file(layout, tree):
    spatial = check_session_headers(open_space(layout), 1)[1:]
    for hemi in ("lh", "rh"):
        rewrite_nifti(tree / f"subj01/rois/{hemi}.streams.nii.gz", lambda d: np.minimum(d, 4))
    with pytest.raises(InputError, match=r"lh.streams.nii.gz: no voxel of region IT in lh.st"):
        check_rois(layout, 1, ["IT"], spatial)
    for hemi in ("lh", "rh"):
        (tree / f"subj01/rois/{hemi}.streams.nii.gz").unlink()
    check_rois(layout, 1, ["IT"], spatial)  # falls back to streams.nii.gz
    (tree / "subj01/rois/streams.nii.gz").unlink()
    with pytest.raises(MissingInputError, match=r"rois/streams.nii.gz: missing ROI volume"):
        check_rois(layout, 1, ["IT"], spatial)


def test_the_ncsnr_volume_is_optional_but_must_fit(layout, tree):
    trials = check_session_headers(open_space(layout), 1)[0]
    path = tree / "subj01/betas/ncsnr.nii.gz"
    rewrite_nifti(path, lambda d: d[:-1])
    with pytest.raises(InputError, match=r"ncsnr.nii.gz: ncsnr volume shape"):
        open_space(layout).check_subject(1, [])
    path.unlink()
    assert open_space(layout).check_subject(1, []) == trials


# --- assemblies and benchmark files ------------------------------------------------------
@pytest.mark.parametrize(
    ("split", "coord"),
    [
        ("train", "stimulus_id"),
        ("train", "subject"),
        ("train", "voxel_z"),
        ("train", "nc_testset"),
        ("test", "nsd_id"),
        ("test", "repetition"),
        ("test", "neuroid_id"),
        ("test", "region"),
    ],
)
def test_an_alignment_coordinate_is_required(layout, split, coord):
    path = layout.brainscore_assembly(split)
    rewrite_netcdf(path, lambda a: a.drop_vars(coord))
    with pytest.raises(InputError) as info:
        preflight.check_brainscore_assembly(layout, split)
    assert info.value.path == str(path)
    assert info.value.problem == f"Brain-Score {split} assembly lacks coordinate {coord!r}"


def test_repetition_is_only_required_in_test(layout):
    rewrite_netcdf(
        layout.brainscore_assembly("train"), lambda a: a.assign_coords(repetition=a.nsd_id * 0)
    )
    preflight.check_brainscore_assembly(layout, "train")
    rewrite_netcdf(layout.brainscore_assembly("train"), lambda a: a.drop_vars("repetition"))
    preflight.check_brainscore_assembly(layout, "train")


def test_values_are_not_judged_by_the_preflight(layout):
    """NaN, Inf and wrong coordinate values are for the reports to find."""
    for split in ("train", "test"):

        def poison(array):
            values = array.values.copy()
            values[0, 0] = np.nan
            values[-1, -1] = np.inf
            return array.copy(data=values).assign_coords(nsd_id=array.nsd_id + 1)

        rewrite_netcdf(layout.brainscore_assembly(split), poison)
        preflight.check_brainscore_assembly(layout, split)
    rewrite_netcdf(layout.region_assembly("V1"), lambda a: a * np.nan)
    preflight.check_region_assembly(layout, "V1")
    preflight.check_inputs(layout, [1, 2], REGIONS)


def test_dims_and_readability_of_assemblies(layout):
    rewrite_netcdf(layout.region_assembly("V2"), lambda a: a.transpose())
    with pytest.raises(InputError, match=r"V2 region assembly dims are \('neuroid', 'present"):
        preflight.check_region_assembly(layout, "V2")
    rewrite_netcdf(layout.region_assembly("IT"), lambda a: a.drop_vars("nsd_id"))
    with pytest.raises(InputError, match="IT region assembly lacks coordinate 'nsd_id'"):
        preflight.check_region_assembly(layout, "IT")
    layout.brainscore_assembly("test").write_bytes(b"CDF\x01 cut")
    with pytest.raises(InputError, match="test_8subj.nc: not a readable netCDF DataArray"):
        preflight.check_brainscore_assembly(layout, "test")
    with pytest.raises(MissingInputError, match="missing Brain-Score train assembly"):
        preflight.check_dataarray(
            layout.root / "none.nc", dims=(), coords=(), what="Brain-Score train assembly"
        )


def test_benchmark_files_of_a_region_are_required(layout):
    preflight.check_benchmark(layout, "V4")
    rewrite_netcdf(layout.activations("V4", "test"), lambda a: a.drop_vars("stimulus_id"))
    with pytest.raises(InputError, match="V4 test activations lacks coordinate 'stimulus_id'"):
        preflight.check_benchmark(layout, "V4")
    layout.activations("V1", "train").unlink()
    with pytest.raises(MissingInputError, match="activations_train.nc: missing V1 train act"):
        preflight.check_benchmark(layout, "V1")


# --- sessions the images need ----------------------------------------------------------
def test_a_missing_last_session_is_named_with_the_trials_it_holds(layout, tree):
    design = load_expdesign(layout.expdesign())
    images = sessions.split_images(layout.split_csv())
    sessions.check_needed_sessions(open_space(layout), design, 2, images)  # clean: passes
    trials = open_space(layout).trials_per_session(2)
    needed = sessions.needed_sessions(design, 2, images, trials)
    last = max(needed)
    assert last == max(layout.sessions(2))  # the tiny tree's shortest subject ends there
    assert sum(needed.values()) == 3 * len(images)
    (tree / f"subj02/betas/betas_session{last:02d}.hdf5").unlink()
    with pytest.raises(MissingInputError) as info:
        sessions.check_needed_sessions(open_space(layout), design, 2, images)
    assert info.value.path.endswith(f"subj02/betas/betas_session{last:02d}.hdf5")
    assert f"which holds {needed[last]} trials of the {len(images)} images" in str(info.value)


def test_needed_sessions_follow_the_first_three_showings_of_each_image():
    # image 1 (nsd id 4) shown in trials 0, 2, 3; image 2 (nsd id 8) in trials 1, 4, 5, 6
    design = ExpDesign(np.array([1, 2, 1, 1, 2, 2, 2]), np.array([[5, 9]]), np.array([5, 9]))
    assert sessions.needed_sessions(design, 1, np.array([4]), 2) == {1: 1, 2: 2}
    assert sessions.needed_sessions(design, 1, np.array([8]), 2) == {1: 1, 3: 2}
    assert sessions.needed_sessions(design, 1, np.array([4, 8]), 2) == {1: 2, 2: 2, 3: 2}


def test_with_nsds_own_design_every_session_nsd_holds_is_required(tmp_path):
    folder = tmp_path / "subj03" / "betas"
    folder.mkdir(parents=True)
    for session in range(1, 32):  # NSD holds 32 sessions for subj03
        (folder / f"betas_session{session:02d}.hdf5").touch()
    layout = detect_layout(tmp_path)
    ordering = np.tile(np.arange(1, 10001), 3)
    design = ExpDesign(ordering, np.tile(np.arange(1, 10001), (8, 1)), np.arange(1, 1001))
    with pytest.raises(MissingInputError) as info:
        sessions.check_nsd_session_count(open_space(layout), design, 3, layout.sessions(3))
    assert info.value.path.endswith("subj03/betas/betas_session32.hdf5")
    assert "NSD holds 32 sessions for it" in str(info.value)
    sessions.check_nsd_session_count(open_space(layout), design, 3, list(range(1, 33)))
    small = ExpDesign(ordering[:-1], design.subjectim, design.sharedix)  # not NSD's design
    sessions.check_nsd_session_count(open_space(layout), small, 3, [1, 2, 3])


def test_the_split_csv_must_hold_nsd_ids(layout, tree):
    path = tree / "assemblies/train_test_split_8subj.csv"
    path.write_text(path.read_text().replace("\n", "\nnsd_x,abc,train\n", 1))
    with pytest.raises(InputError, match="column 'nsd_id' holds values that are not NSD ids"):
        sessions.split_images(path)


def test_the_nsdgeneral_labels_and_every_ncsnr_at_them_are_read_first(tiny_surface_tree, tmp_path):
    tree = Path(shutil.copytree(tiny_surface_tree, tmp_path / "surface"))
    layout = detect_layout(tree, space="surface")
    assert preflight.check_inputs(layout, [1], ["V4"]) is None
    ncsnr = tree / "subj02" / "betas" / "lh.ncsnr.mgh"  # not a validated subject: still read
    saved = ncsnr.read_bytes()
    ncsnr.write_bytes(saved[:400])
    with pytest.raises(InputError, match=r"subj02/betas/lh.ncsnr.mgh: truncated"):
        preflight.check_inputs(layout, [1], ["V4"])
    ncsnr.write_bytes(saved)
    path = tree / "fsaverage_labels" / "rh.nsdgeneral.mgz"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(InputError, match=r"rh.nsdgeneral.mgz: not a readable MGH/MGZ label"):
        preflight.check_inputs(layout, [1], ["V4"])
    path.unlink()  # a lone lh label cannot serve
    with pytest.raises(MissingInputError, match=r"rh.nsdgeneral.mgz"):
        preflight.check_inputs(layout, [1], ["V4"])
    (tree / "fsaverage_labels" / "lh.nsdgeneral.mgz").unlink()  # none: nothing to read
    assert preflight.check_inputs(layout, [1], ["V4"]) is None
