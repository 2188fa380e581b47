"""ROI extraction from one session file: nsdval's chunk-aware reader vs the seed's full read.

Writes a synthetic session (int16, (trials, Z, Y, X)) in three storage layouts — chunks of one
voxel's trials as NSD ships them, chunks of one trial volume, and contiguous — then times, per
layout, the seed's ``f["betas"][:]`` followed by masking against ``nsdval.raw.read_voxels`` on
the same ROI, checks that both return the same values, and prints the speed-up.

    python benchmarks/bench_roi_read.py            # subj01's real volume, 150 trials (~200 MB)
    python benchmarks/bench_roi_read.py --trials 750  # a full real-size session (~1 GB)
"""

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from nsdval import raw

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


def best_of(repeats, func, *args):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = func(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=150)
    parser.add_argument("--voxels", type=int, default=760)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    shape = (83, 104, 81)  # subj01, HDF5 order
    rng = np.random.default_rng(0)
    mask = roi_mask(shape, args.voxels, rng)
    coords = raw.voxel_coordinates(mask)
    print(
        f"session ({args.trials}, {shape}) int16, ROI of {mask.sum()} voxels; best of "
        f"{args.repeats} with the file in page cache"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name, storage in LAYOUTS.items():
            path = Path(tmp) / "betas_session01.hdf5"
            write_session(path, args.trials, shape, storage(args.trials, shape), rng)
            seed_time, expected = best_of(args.repeats, seed_read, path, mask)
            ours_time, got = best_of(args.repeats, raw.read_psc, path, coords)
            assert np.array_equal(got, expected.astype(np.float32)), name
            print(
                f"{name:<24} seed {seed_time:8.3f} s   nsdval {ours_time:7.4f} s   "
                f"ratio {seed_time / ours_time:8.1f}x"
            )
            path.unlink()


if __name__ == "__main__":
    main()
