"""ROI extraction from one session file: nsdval's reader vs the seed's full read and h5py reads.

Writes a synthetic session (int16, (trials, Z, Y, X) with subj01's volume) in three storage
layouts (chunks of one voxel's trials as NSD ships them, chunks of one trial volume, and
contiguous), then times per layout, on the same ROI and with the file in page cache:

- the seed's ``f["betas"][:]``, then ``/ 300`` and the mask (the baseline);
- an h5py bounding-box hyperslab of the ROI, then the mask;
- one ``read_direct_chunk`` per voxel (per-voxel chunks only);
- ``nsdval.data.volume.betas.read_psc`` (nsdval's chunk-aware reader).

Every method must return the seed's values exactly. The ratios printed are seed / nsdval
and nsdval / best other method (1.0 = as fast as the best).

    python benchmarks/bench_roi_read.py               # 150 trials per session (~200 MB)
    python benchmarks/bench_roi_read.py --trials 750  # a real-size session (~1 GB)
"""

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from common import best_of, header, parse_args, row

from nsdval.data.volume import betas as volume_betas
from nsdval.data.volume import rois

SHAPE = (83, 104, 81)  # subj01, HDF5 order
LAYOUTS = {
    "per-voxel chunks (NSD)": lambda t, shape: {"chunks": (t, 1, 1, 1)},
    "per-trial chunks": lambda t, shape: {"chunks": (1, *shape)},
    "contiguous": lambda t, shape: {},
}


def write_session(path, trials, shape, storage, rng):
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("betas", shape=(trials, *shape), dtype=np.int16, **storage)
        for z in range(shape[0]):
            dset[:, z] = rng.integers(-2000, 2000, size=(trials, *shape[1:]), dtype=np.int16)


def roi_mask(shape, n_voxels, rng):
    """A compact blob of about ``n_voxels`` voxels, like hV4."""
    center = np.array(shape) // 2
    grid = np.indices(shape).reshape(3, -1).T
    distance = np.linalg.norm((grid - center) * [1.0, 1.3, 0.8], axis=1)
    mask = np.zeros(int(np.prod(shape)), bool)
    mask[np.argsort(distance + rng.uniform(0, 0.5, distance.size))[:n_voxels]] = True
    return mask.reshape(shape)


def seed_read(path, mask):
    with h5py.File(path, "r") as f:
        betas = f["betas"][:]
    return betas.astype(np.float32)[:, mask] / 300.0


def box_read(path, mask):
    coords = np.argwhere(mask)
    low, high = coords.min(axis=0), coords.max(axis=0) + 1
    with h5py.File(path, "r") as f:
        box = f["betas"][:, low[0] : high[0], low[1] : high[1], low[2] : high[2]]
    return box[:, mask[low[0] : high[0], low[1] : high[1], low[2] : high[2]]] / np.float32(300)


def direct_chunk_read(path, mask):
    with h5py.File(path, "r") as f:
        dsid = f["betas"].id
        columns = [
            np.frombuffer(dsid.read_direct_chunk((0, i, j, k))[1], dtype=np.int16)
            for i, j, k in np.argwhere(mask)
        ]
    return np.stack(columns, axis=1) / np.float32(300)


def measure_layout(name, path, mask, repeats):
    """Time every method on one layout; return {method: seconds}."""
    coords = rois.voxel_coordinates(mask)
    methods = {"h5py bounding box": box_read}
    if name.startswith("per-voxel"):
        methods["read_direct_chunk per voxel"] = direct_chunk_read
    seed_time, expected = best_of(seed_read, path, mask, repeats=repeats, budget=30)
    ours_time, got = best_of(volume_betas.read_psc, path, coords, repeats=repeats)
    assert np.array_equal(got, expected), f"{name}: nsdval differs from the seed's read"
    times = {"seed betas[:]": seed_time, "nsdval": ours_time}
    for label, func in methods.items():
        times[label], values = best_of(func, path, mask, repeats=repeats)
        assert np.array_equal(values, expected), f"{name}: {label} differs from the seed's read"
    return times


def report_layout(name, times):
    row(f"{name}: vs seed", times["nsdval"], times["seed betas[:]"], "seed")
    others = {k: v for k, v in times.items() if k != "nsdval"}
    best = min(others, key=others.get)
    for label, seconds in others.items():
        if label != "seed betas[:]":
            print(f"{'':<44}{label:<28} {seconds:9.4f} s")
    ratio = times["nsdval"] / others[best]
    print(f"{'':<44}nsdval / best ({best}): {ratio:.2f}x", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=150, help="trials per session (NSD: 750)")
    parser.add_argument("--voxels", type=int, default=760, help="ROI size")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument(
        "--layouts", default=",".join(LAYOUTS), help="comma list of layouts to measure"
    )
    args = parse_args(parser, {"trials": 750})
    rng = np.random.default_rng(0)
    mask = roi_mask(SHAPE, args.voxels, rng)
    header("bench_roi_read: one session's ROI voxels, nsdval vs the seed's betas[:] + mask")
    print(
        f"# session ({args.trials}, {SHAPE}) int16, ROI of {mask.sum()} voxels; best of "
        f"{args.repeats} with the file in page cache"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.layouts.split(","):
            path = Path(tmp) / "betas_session01.hdf5"
            start = time.perf_counter()
            write_session(path, args.trials, SHAPE, LAYOUTS[name](args.trials, SHAPE), rng)
            print(f"# {name}: written in {time.perf_counter() - start:.1f} s", flush=True)
            report_layout(name, measure_layout(name, path, mask, args.repeats))
            path.unlink()


if __name__ == "__main__":
    main()
