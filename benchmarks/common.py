"""Helpers shared by the ``bench_*.py`` scripts (not a benchmark itself).

Timing with a repeat budget, one printed line per measurement, the synthetic full-size tree
(generated into the temporary folder and deleted afterwards, or reused with ``--tree``),
and the seed notebook's raw-bypass loop, re-implemented as the seed wrote it.
"""

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import scipy.io

REGION_LABELS = {"V1": ("prf-visualrois", [1, 2]), "V2": ("prf-visualrois", [3, 4])}
REGION_LABELS.update(V4=("prf-visualrois", [7]), IT=("streams", [5]))


def best_of(func, *args, repeats=3, budget=20.0):
    """Best wall time of up to ``repeats`` calls, stopping once ``budget`` seconds are spent.

    Returns (seconds, result of the last call).
    """
    times, result = [], None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = func(*args)
        times.append(time.perf_counter() - start)
        if sum(times) > budget:
            break
    return min(times), result


def header(title):
    """Print the benchmark's title, date and machine."""
    cores = os.cpu_count()
    print(f"# {title}")
    print(f"# {date.today().isoformat()}, {platform.machine()}, {cores} cores (shared)")


def row(label, ours, base, base_name="seed", unit="s"):
    """Print one measurement: nsdval, the baseline and their ratio (baseline / nsdval)."""
    ratio = base / ours if ours > 0 else float("inf")
    print(
        f"{label:<42} nsdval {ours:9.4f} {unit}   {base_name} {base:9.4f} {unit}   "
        f"ratio {ratio:9.1f}x",
        flush=True,
    )
    return ratio


@contextlib.contextmanager
def full_tree(sessions, tree=None, space="volume"):
    """A ``full`` preset tree with ``sessions`` sessions: a view of ``tree``, else generated.

    A view links the design, ROI volumes, activations and the first ``sessions`` session
    files of an existing full tree into a temporary folder; a generated tree lives in the
    temporary folder; both are deleted on exit. ``space="surface"``: the surface tree
    (``synth --preset full --space surface``: MGH betas, fsaverage labels, design).
    """
    workdir = Path(tempfile.mkdtemp(prefix="nsdval-bench-"))
    try:
        if tree is None:
            from nsdval import synth  # imported here: xarray would inflate bench_memory's floor

            start = time.perf_counter()
            root = synth.synthesize(
                workdir / "full", preset="full", sessions=sessions, space=space
            )
            seconds = time.perf_counter() - start
            print(
                f"# generated a full {space} tree of {sessions} sessions in {seconds:.0f} s",
                flush=True,
            )
        else:
            root = session_view(Path(tree), sessions, workdir / "full", space)
        yield root
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def session_view(tree, sessions, target, space="volume"):
    """Symlink a full tree's files and its first ``sessions`` sessions under ``target``."""
    if space == "surface":
        return surface_view(tree, sessions, target)
    files = sorted((tree / "subj01" / "betas").glob("betas_session*.hdf5"))
    if len(files) < sessions:
        raise SystemExit(f"{tree} has {len(files)} sessions, {sessions} asked for")
    (target / "subj01" / "betas").mkdir(parents=True)
    for name in ("metadata", "benchmark", "subj01/rois"):
        if (tree / name).exists():
            (target / name).symlink_to((tree / name).resolve())
    for path in files[:sessions]:
        (target / "subj01" / "betas" / path.name).symlink_to(path.resolve())
    return target


def surface_view(tree, sessions, target):
    """Symlink a full surface tree's design, label files and first ``sessions`` sessions.

    The label folder is a real folder of links, so a script may replace a label file of
    the view without touching the tree.
    """
    betas = tree / "subj01" / "betas"
    numbers = sorted(int(p.name[-6:-4]) for p in betas.glob("lh.betas_session*.mgh"))
    if len(numbers) < sessions:
        raise SystemExit(f"{tree} has {len(numbers)} surface sessions, {sessions} asked for")
    (target / "subj01" / "betas").mkdir(parents=True)
    (target / "fsaverage_labels").mkdir()
    (target / "metadata").symlink_to((tree / "metadata").resolve())
    for path in (tree / "fsaverage_labels").iterdir():
        (target / "fsaverage_labels" / path.name).symlink_to(path.resolve())
    for number in numbers[:sessions]:
        for hemi in ("lh", "rh"):
            name = f"{hemi}.betas_session{number:02d}.mgh"
            (target / "subj01" / "betas" / name).symlink_to((betas / name).resolve())
    return target


def peak_rss_mb():
    """Peak resident memory of this process so far (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


# ---------------------------------------------------------------- the seed's raw bypass


def measure_child(script, kind, root, fixed_root=None):
    """Run ``script --child KIND ROOT [--fixed FIXED]`` in a fresh process; its JSON line.

    A fresh process per measurement, so each peak RSS (``VmHWM``) is its own.
    """
    command = [sys.executable, str(script), "--child", kind, str(root)]
    if fixed_root is not None:
        command += ["--fixed", str(fixed_root)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def rss_line(label, result):
    """Print one peak-RSS measurement; return its MB."""
    print(
        f"{label:<46} peak {result['peak_mb']:7.0f} MB   {result['seconds']:7.2f} s   "
        f"{result['images']} images",
        flush=True,
    )
    return result["peak_mb"]


def seed_n_sessions(root, subj):
    return len(sorted((root / f"subj{subj:02d}" / "betas").glob("betas_session*.hdf5")))


def seed_trial_info(root, subj, target_nsd_ids, per_session, n_sessions=None):
    """The seed's ``get_trial_info``: one row per trial of a target shared image.

    ``n_sessions``: sessions of the subject, by default its HDF5 session files.
    """
    expdesign = scipy.io.loadmat(root / "metadata" / "nsd_expdesign.mat")
    masterordering = expdesign["masterordering"].flatten()
    subjectim = expdesign["subjectim"]
    sharedix = expdesign["sharedix"].flatten()
    n_sessions = seed_n_sessions(root, subj) if n_sessions is None else n_sessions
    n_total = n_sessions * per_session
    subj_nsdids = subjectim[subj - 1]
    nsdid_to_imgidx = {int(n): i + 1 for i, n in enumerate(subj_nsdids)}
    shared_imgidxs = {nsdid_to_imgidx[int(n)] for n in sharedix if int(n) in nsdid_to_imgidx}
    records, rep_counter = [], {}
    for trial_idx in range(n_total):
        img_idx = masterordering[trial_idx]
        if img_idx in shared_imgidxs:
            nsd_id = int(subj_nsdids[img_idx - 1] - 1)
            if nsd_id not in target_nsd_ids:
                rep_counter[img_idx] = rep_counter.get(img_idx, 0) + 1
                continue
            rep = rep_counter.get(img_idx, 0)
            rep_counter[img_idx] = rep + 1
            records.append(
                {
                    "nsd_id": nsd_id,
                    "rep": rep,
                    "session": trial_idx // per_session + 1,
                    "trial_in_session": trial_idx % per_session,
                }
            )
    return pd.DataFrame(records)


def seed_region_mask(root, subj, region):
    name, labels = REGION_LABELS[region]
    path = root / f"subj{subj:02d}" / "rois" / f"{name}.nii.gz"
    return np.isin(nib.load(str(path)).get_fdata().T, labels)


def seed_load_session_betas(root, subj, session):
    path = root / f"subj{subj:02d}" / "betas" / f"betas_session{session:02d}.hdf5"
    with h5py.File(str(path), "r") as f:
        betas = f["betas"][:]
    return betas.astype(np.float32) / 300.0


def seed_bypass(root, subj, region, nsd_ids):
    """The seed's section-2 loop for one region: (n_images, 3, n_voxels) session z-scores."""
    all_nsd_ids = sorted(int(i) for i in nsd_ids)
    nsd_id_to_idx = {nsd_id: idx for idx, nsd_id in enumerate(all_nsd_ids)}
    mask = seed_region_mask(root, subj, region)
    with h5py.File(root / f"subj{subj:02d}" / "betas" / "betas_session01.hdf5", "r") as f:
        per_session = f["betas"].shape[0]
    trial_info = seed_trial_info(root, subj, set(all_nsd_ids), per_session)
    per_rep = np.zeros((len(all_nsd_ids), 3, mask.sum()), dtype=np.float32)
    for session in range(1, seed_n_sessions(root, subj) + 1):
        session_trials = trial_info[trial_info["session"] == session]
        if len(session_trials) == 0:
            continue
        session_betas = seed_load_session_betas(root, subj, session)
        roi_betas = session_betas[:, mask]
        mean = roi_betas.mean(axis=0, keepdims=True)
        std = roi_betas.std(axis=0, keepdims=True)
        std[std == 0] = 1.0
        roi_betas = (roi_betas - mean) / std
        for _, r in session_trials.iterrows():
            per_rep[nsd_id_to_idx[r["nsd_id"]], r["rep"]] = roi_betas[r["trial_in_session"]]
        del session_betas
    return per_rep


def parse_args(parser, real):
    """Parse the command line; ``--real`` switches the defaults to ``real`` (the NSD sizes).

    Options given explicitly win over both.
    """
    parser.add_argument(
        "--real",
        action="store_true",
        help="real NSD sizes: "
        + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in real.items()),
    )
    args = parser.parse_args()
    if args.real:
        parser.set_defaults(**real)
        args = parser.parse_args()
    return args


# how the session files are stored; NSD ships per-voxel chunks (what the full preset writes)
STORAGE = {
    "per-voxel": None,
    "per-trial": lambda shape: {"chunks": (1, *shape[1:])},
    "contiguous": lambda shape: {},
}


def relayout(root, layout):
    """Rewrite the session files of ``root`` with ``layout``'s storage (same values).

    A session is read whole (1 GB) and written to a new file that replaces the old one (or
    the link to it, in a view of an existing tree).
    """
    if STORAGE[layout] is None:
        return
    for path in sorted((Path(root) / "subj01" / "betas").glob("betas_session*.hdf5")):
        with h5py.File(path, "r") as f:
            betas = f["betas"][:]
        staged = path.with_name(path.name + ".relayout")
        with h5py.File(staged, "w") as f:
            f.create_dataset("betas", data=betas, **STORAGE[layout](betas.shape))
        del betas
        path.unlink()
        staged.rename(path)
        print(f"# rewrote {path.name} with {layout} storage", flush=True)


def add_tree_options(parser):
    """``--sessions``, ``--tree`` and ``--layout``: which full tree, in which storage."""
    parser.add_argument("--sessions", type=int, default=1, help="sessions of the full tree")
    parser.add_argument("--tree", type=Path, default=None, help="existing full tree to reuse")
    parser.add_argument(
        "--layout",
        choices=list(STORAGE),
        default="per-voxel",
        help="storage of the session files (per-voxel chunks as NSD ships them, or rewritten)",
    )
