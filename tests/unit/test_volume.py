import hashlib

import h5py
import nibabel as nib
import numpy as np
import pytest

from nsdval.data.layout import NsdLayout
from nsdval.data.volume import betas as volume_betas
from nsdval.data.volume import rois
from nsdval.data.volume.space import check_mask_fits
from nsdval.errors import InputError, MissingInputError

SHAPE = (40, 6, 7, 5)  # trials, Z, Y, X


def write_betas(path, values, **storage):
    with h5py.File(path, "w") as f:
        f.create_dataset("betas", data=values, **storage)
    return path


@pytest.fixture
def betas(rng):
    values = rng.integers(-3000, 3000, size=SHAPE, dtype=np.int16)
    values[:, 0] = 0  # a slab outside the brain
    return values


LAYOUTS = {
    "per-voxel chunks": {"chunks": (SHAPE[0], 1, 1, 1)},
    "per-trial chunks": {"chunks": (1, *SHAPE[1:])},
    "contiguous": {},
    "compressed": {"chunks": (SHAPE[0], 2, 2, 2), "compression": "gzip", "shuffle": True},
}


@pytest.mark.parametrize("storage", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_read_voxels_equals_reading_everything(tmp_path, betas, rng, storage):
    path = write_betas(tmp_path / "b.hdf5", betas, **storage)
    mask = rng.random(SHAPE[1:]) < 0.3
    coords = rois.voxel_coordinates(mask)
    with h5py.File(path, "r") as f:
        expected = f["betas"][:][:, mask]
    got = volume_betas.read_voxels(path, coords)
    assert got.dtype == np.int16
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(
        volume_betas.read_psc(path, coords), expected.astype(np.float32) / 300
    )


def test_voxel_chunk_detection(tmp_path, betas):
    for name, storage in LAYOUTS.items():
        with h5py.File(write_betas(tmp_path / f"{name}.hdf5", betas, **storage), "r") as f:
            assert volume_betas.is_voxel_chunked(f["betas"]) == (name == "per-voxel chunks")


def test_read_voxels_refuses_bad_dtype_shape_and_files(tmp_path, betas):
    float_path = write_betas(tmp_path / "f.hdf5", betas.astype(np.float32))
    with pytest.raises(InputError, match=r"f.hdf5: /betas should be int16.*float32"):
        volume_betas.read_voxels(float_path, [[0, 0, 0]])
    flat = write_betas(tmp_path / "flat.hdf5", betas.reshape(SHAPE[0], -1))
    with pytest.raises(InputError, match="should be int16 \\(trials, Z, Y, X\\)"):
        volume_betas.read_voxels(flat, [[0, 0, 0]])
    junk = tmp_path / "junk.hdf5"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(InputError, match="junk.hdf5: not a readable HDF5 file"):
        volume_betas.read_voxels(junk, [[0, 0, 0]])
    with pytest.raises(MissingInputError, match="missing betas session file"):
        volume_betas.read_voxels(tmp_path / "absent.hdf5", [[0, 0, 0]])
    good = write_betas(tmp_path / "g.hdf5", betas)
    with pytest.raises(InputError, match="voxels outside the betas volume"):
        volume_betas.read_voxels(good, [[6, 0, 0]])


def save_nifti(path, xyz):
    nib.save(nib.Nifti1Image(xyz.astype(np.float32), np.eye(4)), path)


@pytest.fixture
def roi_tree(tmp_path):
    """A packaging tree whose ROI volumes are (X, Y, Z) = (5, 7, 6)."""
    rois = tmp_path / "subj01" / "rois"
    rois.mkdir(parents=True)
    prf = -np.ones((5, 7, 6))
    prf[1:4, 1:6, 1:5] = 0
    prf[1, 2, 3] = 1  # V1 at NIfTI (x=1, y=2, z=3)
    prf[3, 5, 1] = 2
    prf[2, 2, 2] = 7  # hV4
    save_nifti(rois / "prf-visualrois.nii.gz", prf)
    for hemi, x in (("lh", 1), ("rh", 3)):
        streams = np.zeros((5, 7, 6))
        streams[x, 4, 4] = 5
        streams[x, 1, 1] = 1
        save_nifti(rois / f"{hemi}.streams.nii.gz", streams)
    return NsdLayout(tmp_path)


def test_masks_are_transposed_to_hdf5_order(roi_tree):
    v1 = rois.region_mask(roi_tree, 1, "V1")
    assert v1.shape == (6, 7, 5)
    assert rois.voxel_coordinates(v1).tolist() == [
        [1, 5, 3],
        [3, 2, 1],
    ]  # (z, y, x), argwhere order
    assert rois.voxel_coordinates(rois.region_mask(roi_tree, 1, "V4")).tolist() == [[2, 2, 2]]
    assert not rois.region_mask(roi_tree, 1, "V2").any()


def test_it_is_the_union_of_hemispheres_with_bilateral_fallback(roi_tree):
    it = rois.region_mask(roi_tree, 1, "IT")
    assert rois.voxel_coordinates(it).tolist() == [[4, 4, 1], [4, 4, 3]]
    roi_dir = roi_tree.roi_dir(1)
    (roi_dir / "lh.streams.nii.gz").unlink()
    (roi_dir / "rh.streams.nii.gz").unlink()
    bilateral = np.zeros((5, 7, 6))
    bilateral[0, 0, 5] = 5
    save_nifti(roi_dir / "streams.nii.gz", bilateral)
    assert rois.voxel_coordinates(rois.region_mask(roi_tree, 1, "IT")).tolist() == [[5, 0, 0]]


def test_label_volume_refuses_non_integer_labels(tmp_path):
    path = tmp_path / "bad.nii.gz"
    save_nifti(path, np.full((2, 2, 2), 0.5))
    with pytest.raises(InputError, match="bad.nii.gz: label volume holds non-integer values"):
        rois.load_label_volume(path)


def test_check_mask_fits_names_the_betas_file(tmp_path):
    with pytest.raises(InputError, match=r"s1.hdf5: volume \(6, 7, 5\) does not match"):
        check_mask_fits(np.zeros((5, 7, 6), bool), (6, 7, 5), tmp_path / "s1.hdf5", 1)


def test_per_voxel_chunks_never_written_read_as_the_fill_value(tmp_path, betas, rng):
    path = tmp_path / "sparse.hdf5"
    with h5py.File(path, "w") as f:  # only some voxels' chunks exist in the file
        dset = f.create_dataset("betas", shape=SHAPE, dtype=np.int16, chunks=(SHAPE[0], 1, 1, 1))
        dset[:, 1:3] = betas[:, 1:3]
    mask = rng.random(SHAPE[1:]) < 0.5
    with h5py.File(path, "r") as f:
        expected = f["betas"][:][:, mask]
    assert (expected == 0).any() and (expected != 0).any()
    np.testing.assert_array_equal(
        volume_betas.read_voxels(path, rois.voxel_coordinates(mask)), expected
    )


# --- reads of NSD's per-voxel chunks -----------------------------------------------------
@pytest.fixture
def voxel_chunked(tmp_path):
    """A (trials, Z, Y, X) int16 file in NSD's per-voxel chunks, and its values."""
    values = np.random.default_rng(3).integers(-3000, 3000, size=(9, 3, 4, 5), dtype=np.int16)
    path = tmp_path / "betas_session01.hdf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("betas", data=values, chunks=(9, 1, 1, 1))
    return path, values


def test_the_digest_covers_exactly_the_chunks_read(voxel_chunked):
    path, values = voxel_chunked
    coords = np.array([[0, 0, 1], [2, 3, 4]])
    digest = hashlib.sha256()
    volume_betas.read_voxels(path, coords, digest=digest)
    data, expected = path.read_bytes(), hashlib.sha256()
    with h5py.File(path) as f:  # the chunks' bytes on disk, found independently
        for i, j, k in coords.tolist():
            info = f["betas"].id.get_chunk_info_by_coord((0, i, j, k))
            expected.update(data[info.byte_offset : info.byte_offset + info.size])
    assert digest.hexdigest() == expected.hexdigest()
    other = hashlib.sha256()
    volume_betas.read_voxels(path, coords[::-1], digest=other)
    assert other.hexdigest() != digest.hexdigest()  # what was read, in the order read


def test_a_damaged_chunk_index_is_an_input_error_naming_the_file(voxel_chunked):
    path, _ = voxel_chunked
    data = bytearray(path.read_bytes())
    nodes = [i for i in range(len(data) - 5) if data[i : i + 5] == b"TREE\x01"]
    assert nodes
    for start in nodes:
        data[start : start + 4] = b"XXXX"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"chunk of voxel \(0, 0, 0\) unreadable") as err:
        volume_betas.read_voxels(path, np.array([[0, 0, 0]]))
    assert err.value.path == str(path)


def test_read_ahead_is_turned_off_for_hdf5s_descriptor(voxel_chunked, monkeypatch):
    path, _ = voxel_chunked
    advised = []
    monkeypatch.setattr(volume_betas.os, "posix_fadvise", lambda *args: advised.append(args))
    volume_betas.read_voxels(path, np.array([[0, 0, 0]]))
    assert advised and advised[0][1:] == (0, 0, volume_betas.os.POSIX_FADV_RANDOM)


def test_psc_from_int16_divides_by_300_in_float32():
    out = volume_betas.psc_from_int16(np.array([32767, -32768, 1], dtype=np.int16))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [32767 / 300, -32768 / 300, 1 / 300], rtol=1e-7)
