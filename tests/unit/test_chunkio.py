import hashlib

import h5py
import numpy as np
import pytest

from nsdval import chunkio, raw
from nsdval.errors import InputError


@pytest.fixture
def voxel_chunked(tmp_path):
    """A (trials, Z, Y, X) int16 file in NSD's per-voxel chunks, and its values."""
    rng = np.random.default_rng(3)
    values = rng.integers(-3000, 3000, size=(9, 3, 4, 5), dtype=np.int16)
    path = tmp_path / "betas_session01.hdf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("betas", data=values, chunks=(9, 1, 1, 1))
    return path, values


def test_coalesce_joins_neighbours_and_keeps_distant_chunks_apart():
    offsets = np.array([3000, 0, 1000, 20000])
    sizes = np.array([1000, 1000, 1000, 1000])
    order, runs = chunkio.coalesce(offsets, sizes, gap=100)
    assert order.tolist() == [1, 2, 0, 3]
    assert runs == [(0, 2000, 0, 2), (3000, 4000, 2, 3), (20000, 21000, 3, 4)]
    _, joined = chunkio.coalesce(offsets, sizes, gap=1000)
    assert joined == [(0, 4000, 0, 3), (20000, 21000, 3, 4)]


def test_chunks_read_by_offset_equal_hdf5s_values(voxel_chunked):
    path, values = voxel_chunked
    coords = np.array([[2, 3, 4], [0, 0, 0], [1, 2, 3], [0, 0, 1]])
    got = raw.read_voxels(path, coords)
    np.testing.assert_array_equal(got, values[:, coords[:, 0], coords[:, 1], coords[:, 2]])


def test_the_digest_covers_exactly_the_chunks_read(voxel_chunked):
    path, values = voxel_chunked
    coords = np.array([[0, 0, 1], [2, 3, 4]])
    digest = hashlib.sha256()
    raw.read_voxels(path, coords, digest=digest)
    with h5py.File(path) as f:
        infos = [f["betas"].id.get_chunk_info_by_coord((0, *c)) for c in coords.tolist()]
    data = path.read_bytes()
    expected = hashlib.sha256()
    for info in sorted(infos, key=lambda i: i.byte_offset):
        expected.update(data[info.byte_offset : info.byte_offset + info.size])
    assert digest.hexdigest() == expected.hexdigest()


def test_a_chunk_past_the_end_of_the_file_is_named(voxel_chunked, tmp_path):
    path, _ = voxel_chunked
    with h5py.File(path) as f:
        info = f["betas"].id.get_chunk_info_by_coord((0, 1, 1, 1))
    with chunkio.random_access(path) as fd, pytest.raises(InputError, match="truncated") as err:
        out = np.empty((1, info.size), np.uint8)
        sizes = np.array([info.size])
        chunkio.read_chunks(fd, np.array([path.stat().st_size - 4]), sizes, out, path)
    assert str(path) in str(err.value)


def test_a_chunk_never_written_reads_as_the_fill_value(tmp_path):
    path = tmp_path / "sparse.hdf5"
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("betas", shape=(6, 2, 2, 2), dtype="i2", chunks=(6, 1, 1, 1))
        dset[:, 0, 0, 0] = np.arange(6)
    got = raw.read_voxels(path, np.array([[1, 1, 1], [0, 0, 0]]))
    np.testing.assert_array_equal(got, np.stack([np.zeros(6), np.arange(6)], axis=1))
