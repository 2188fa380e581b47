"""One pass per subject gives exactly what region-by-region extraction gives, and the cache
serves it back only while the inputs are unchanged."""

import os

import numpy as np
import pytest

from nsdval.analysis import cache, extraction
from nsdval.data import assemblies
from nsdval.data.expdesign import load_expdesign
from nsdval.data.layout import REGIONS, detect_layout
from nsdval.data.space import DataSpace
from nsdval.data.spaces import open_space
from nsdval.data.volume.space import VolumeSpace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def inputs(tiny_tree):
    layout = detect_layout(tiny_tree)
    design = load_expdesign(layout.expdesign())
    train = assemblies.load_brainscore_assembly(layout, "train")
    space = open_space(layout)
    ids = extraction.reference_images(space, design, assemblies.assembly_subjects(train))
    return space, design, ids


def assert_same(a, b):
    for name in ("nsd_ids", "coords", "trials", "betas", "session_z", "ncsnr"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.n_sessions == b.n_sessions


def test_one_pass_equals_region_by_region(inputs):
    space, design, ids = inputs
    together = extraction.extract_subject(space, design, 2, REGIONS, ids)
    for region in REGIONS:
        assert_same(together[region], extraction.extract_region(space, design, 2, region, ids))


def test_voxel_blocks_give_the_same_arrays(inputs, monkeypatch):
    space, design, ids = inputs
    whole = extraction.extract_subject(space, design, 1, REGIONS, ids)
    monkeypatch.setattr(extraction, "BLOCK_BYTES", 1)  # blocks of two or three voxels
    for region, ext in extraction.extract_subject(space, design, 1, REGIONS, ids).items():
        assert_same(ext, whole[region])


def test_the_cache_serves_identical_arrays(inputs, tmp_path):
    space, design, ids = inputs
    path = cache.prepare_subject(space.layout, 1, ("V1", "IT"), tmp_path)
    assert path.is_file()
    assert cache.prepare_subject(space.layout, 1, ("V1", "IT"), tmp_path) is None  # cached
    made = extraction.extract_subject(space, design, 1, ("V1", "IT"), ids)
    for region in ("V1", "IT"):
        assert_same(cache.load(path, region), made[region])
        assert_same(cache.region_extraction(space, design, 1, region, ids, tmp_path), made[region])
    assert cache.load(path, "V4") is None


def test_a_touched_input_changes_the_key(inputs, tmp_path):
    space = inputs[0]
    before = cache.cache_key(space, 1)
    betas = space.layout.betas(1, 1)
    stat = betas.stat()
    os.utime(betas, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    try:
        assert cache.cache_key(space, 1) != before
    finally:
        os.utime(betas, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cache.cache_key(space, 1) == before
    assert cache.cache_key(space, 2) != before


def test_session_z_is_float32_of_a_direct_float64_computation(inputs):
    import h5py

    space, design, ids = inputs
    ext = extraction.extract_region(space, design, 1, "V4", ids)
    assert ext.session_z.dtype == np.float32 and ext.betas.dtype == np.int16
    with h5py.File(space.layout.betas(1, 1), "r") as f:
        stored = f["betas"][:][:, ext.coords[:, 0], ext.coords[:, 1], ext.coords[:, 2]]
    values = stored.astype(np.float64) / 300
    std = values.std(axis=0)
    z = (values - values.mean(axis=0)) / np.where(std == 0, 1, std)
    image, rep = np.nonzero(ext.trials < stored.shape[0])
    assert image.size > 0
    np.testing.assert_array_equal(ext.betas[rep, image], stored[ext.trials[image, rep]])
    expected = z[ext.trials[image, rep]]
    np.testing.assert_allclose(ext.session_z[rep, image], expected, rtol=1e-6, atol=1e-6)
    assert not np.array_equal(ext.session_z[rep, image], expected)  # stored rounded


@pytest.mark.parametrize("region", ["V1", "IT"])
def test_session_z_recomputed_on_use_has_the_bits_of_the_session_zscore(inputs, region):
    from nsdval.analysis import chain

    space, design, ids = inputs
    ext = extraction.extract_region(space, design, 1, region, ids)
    assert "session_z" not in vars(ext)  # not held until asked for
    for index, session in enumerate(space.sessions(1)):
        stored = space.read_stored(1, session, ext.coords)
        z = chain.session_zscore(space.psc(stored)).astype(np.float32)
        first = index * ext.trials_per_session
        image, rep = np.nonzero((ext.trials >= first) & (ext.trials < first + len(stored)))
        np.testing.assert_array_equal(ext.session_z[rep, image], z[ext.trials[image, rep] - first])
    assert ext.session_z.dtype == np.float32


def test_the_volume_space_implements_every_method_of_the_seam(inputs):
    space = inputs[0]
    assert isinstance(space, VolumeSpace) and isinstance(space, DataSpace)
    assert not getattr(VolumeSpace, "__abstractmethods__", None)
    units = space.region_units(1, "V4")
    assert units.ndim == 2 and units.shape[1] == len(space.unit_coords) and len(units) > 0
    stored = space.read_stored(1, space.sessions(1)[0], units[:3])
    assert stored.dtype == space.stored_dtype
    assert stored.shape == (space.trials_per_session(1), 3)
    np.testing.assert_array_equal(space.psc(stored), stored.astype(np.float32) / np.float32(300))
    assert space.check_subject(1, ["V4"]) == space.trials_per_session(1)
    assert set(space.subject_inputs(1)) >= set(space.session_paths(1, 1))


def test_a_session_that_fails_to_read_stops_the_pass_and_leaves_no_reader_running(
    inputs, monkeypatch
):
    import threading

    from nsdval.errors import InputError

    space, design, ids = inputs
    real = space.read_stored
    bad = space.sessions(1)[1]
    asked = []

    def read_stored(subject, session, units, **kwargs):
        asked.append(session)
        if session == bad:
            raise InputError(f"betas_session{bad:02d}.hdf5", "truncated")
        return real(subject, session, units, **kwargs)

    monkeypatch.setattr(space, "read_stored", read_stored)
    with pytest.raises(InputError, match="truncated"):
        extraction.extract_subject(space, design, 1, REGIONS, ids)
    assert asked.index(bad) <= 2  # stopped at the failing session, one read ahead at most
    assert len(asked) <= asked.index(bad) + 2
    assert not [t for t in threading.enumerate() if t.name.startswith("nsdval-read")]


def test_an_error_while_a_session_is_z_scored_leaves_no_reader_running(inputs, monkeypatch):
    import threading

    space, design, ids = inputs
    calls = []

    def psc(stored):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError("no room for a session")
        return type(space).psc(space, stored)

    monkeypatch.setattr(space, "psc", psc)
    try:
        extraction.extract_subject(space, design, 1, REGIONS, ids)
    except MemoryError:  # the caller still holds the traceback, and so the pass's frames
        alive = [t for t in threading.enumerate() if t.name.startswith("nsdval-read")]
    else:
        pytest.fail("the error was not raised")
    assert not alive
