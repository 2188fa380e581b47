"""Fuzzing `nsdval run`: seeded random corruptions of every kind of input file it reads.

Each case copies the tiny synthetic tree, corrupts one file that a ``--subjects 1 --regions
V4`` run reads (``--regions IT`` for a streams volume) in one of six ways (bit flips,
truncation, a zeroed block, appended garbage, an emptied file, header damage) and runs the
``nsdval`` command in a subprocess, into an OUT folder that already holds a sentinel file.
Whatever the corruption, the run must

* end with exit 0, 1 or 2 within :data:`BOUND` seconds, without a traceback;
* on exit 2, print one stderr line ``nsdval: error: ...`` naming the corrupted file and
  leave OUT as it was (the sentinel alone, byte for byte);
* on exit 1, have written failed checks, not errored reports;
* exit 0 only when the corruption left what the run reads of the file unchanged.

No temporary folder may be left beside OUT either. Whether what the run reads is unchanged
is decided without nsdval: the file and its original are decoded with plain libraries
(h5py, nibabel, scipy, pandas, xarray, json) in a child process (a damaged netCDF file can
hang its reader) by running this module as a script. What a ``--subjects 1 --regions R`` run
reads of each file (its scope):

* betas: shape, dtype and every trial of the voxels of region R (the session z-score uses
  every trial);
* ROI volume: shape and the voxels of region R; ncsnr: shape and the values at those voxels;
* design: ``masterordering``, ``subjectim`` and ``sharedix``; split CSV: every column;
* netCDF: dims, shape, dtype, every coordinate (``voxel_x/y/z`` at the neuroids of R, which
  the structure report matches across files; ``nc_testset`` at subj01's neuroids of R, valid in
  [0, 100] elsewhere) and the values of subj01's neuroids of R (finite elsewhere);
* score JSON: ``score``, ``raw``, ``ceiling`` and ``subjects.subj01``.

The last test zeroes a block of HDF5 metadata of the Brain-Score test assembly that makes a
plain ``xarray.open_dataarray`` spin forever, found by scanning offsets with a short timeout
per probe, and requires ``nsdval run`` to stop with exit 2 naming that file.
"""

import json
import os
import selectors
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

NSDVAL = Path(sys.executable).parent / "nsdval"
BOUND = 120
"""Seconds one `nsdval run` may take, whatever the corruption."""
READ_TIMEOUT = 20
"""``--read-timeout`` given to nsdval: a reader that spins is stopped after this."""
DECODE_BOUND = 60
"""Seconds the independent decode of one file may take before it counts as undecodable."""
SENTINEL = b"a file of the user's, which an exit 2 must leave alone\n"
# library warnings are not nsdval's output (as in test_bad_inputs' command-line test)
ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}

DESIGN = "metadata/nsd_expdesign.mat"
SPLIT = "assemblies/train_test_split_8subj.csv"
TRAIN = "brainscore/Allen2022_fmri_train_8subj.nc"
TEST = "brainscore/Allen2022_fmri_test_8subj.nc"

# Kind -> the files of that kind a `--subjects 1 --regions {region}` run reads.
FILES = {
    "betas": [f"subj01/betas/betas_session{n:02d}.hdf5" for n in range(1, 5)],
    "roi": [
        f"subj01/rois/{name}.nii.gz" for name in ("prf-visualrois", "lh.streams", "rh.streams")
    ],
    "ncsnr": ["subj01/betas/ncsnr.nii.gz"],
    "design": [DESIGN],
    "split": [SPLIT],
    "region": ["assemblies/Allen2022.{region}_8subj.nc"],
    "brainscore": [TRAIN, TEST],
    "activations": [f"benchmark/{{region}}/activations_{split}.nc" for split in ("train", "test")],
    "score": ["benchmark/{region}/score.json"],
}
KINDS = tuple(FILES)
CORRUPTIONS = ("bitflips", "truncate", "zero_block", "append", "empty", "header")
HEADER_BYTES = {".hdf5": 2048, ".nc": 2048, ".gz": 10}
"""Bytes of header to damage: HDF5 superblock and root object header; the gzip member header."""

# Region R: V4 from prf-visualrois (label 7), IT from the streams volumes (label 5), as in NSD.
ROI_LABELS = {"V4": (("prf-visualrois",), (7,)), "IT": (("lh.streams", "rh.streams"), (5,))}
VOXEL_COORDS = ("voxel_x", "voxel_y", "voxel_z")
SCORE_SCOPE = ("score", "raw", "ceiling")


def fuzz_cases(per_kind=3, seed=20261130, first_seed=200):
    """``(kind, file, corruption, seed)``: each kind with ``per_kind`` distinct corruptions.

    Corruptions are dealt out seeded and balanced (each used 4 or 5 times), the cases of a
    kind take its files in turn, and the case seed (``first_seed`` plus the case's index)
    drives the corruption. ``first_seed`` was picked, by decoding alone (no nsdval run), for
    a list whose corruptions leave some files unchanged where the run reads them and some
    decodable with changed values (which must not pass), besides the unreadable ones.
    """
    rng = np.random.default_rng(seed)
    used = dict.fromkeys(CORRUPTIONS, 0)
    dealt = {kind: [] for kind in KINDS}
    for _ in range(per_kind):
        for kind in KINDS:
            free = [c for c in CORRUPTIONS if c not in dealt[kind]]
            least = min(used[c] for c in free)
            corruption = str(rng.choice([c for c in free if used[c] == least]))
            dealt[kind].append(corruption)
            used[corruption] += 1
    cases = [
        (kind, FILES[kind][turn % len(FILES[kind])], corruption)
        for kind in KINDS
        for turn, corruption in enumerate(dealt[kind])
    ]
    return [(*case, first_seed + index) for index, case in enumerate(cases)]


CASES = fuzz_cases()


# --- corrupting one file ------------------------------------------------------------------------
def corrupt(data, corruption, rng, header_bytes):
    """The bytes of ``data`` corrupted one way, and what was done, for messages."""
    size = len(data)
    buf = bytearray(data)
    if corruption == "bitflips":
        bits = sorted(int(b) for b in rng.integers(0, size * 8, size=int(rng.integers(1, 9))))
        for bit in bits:
            buf[bit // 8] ^= 1 << (bit % 8)
        return bytes(buf), f"flipped bits {bits} (byte = bit // 8) of {size} bytes"
    if corruption == "truncate":
        keep = int(size * rng.uniform(0, 0.95))
        return bytes(buf[:keep]), f"cut to its first {keep} of {size} bytes"
    if corruption == "zero_block":
        length = int(rng.integers(512, 8193))
        start = int(rng.integers(0, max(size - length, 0) + 1))
        end = min(start + length, size)
        buf[start:end] = bytes(end - start)
        return bytes(buf), f"zeroed bytes {start}:{end} of {size}"
    if corruption == "append":
        extra = rng.bytes(int(rng.integers(16, 4097)))
        return bytes(buf) + extra, f"appended {len(extra)} random bytes to its {size}"
    if corruption == "empty":
        return b"", f"emptied (was {size} bytes)"
    if corruption == "header":
        span = min(header_bytes, size)
        positions = rng.choice(span, size=min(span, int(rng.integers(1, 5))), replace=False)
        done = []
        for pos in sorted(int(p) for p in positions):
            old = buf[pos]
            buf[pos] = 0 if rng.random() < 0.5 else old ^ int(rng.integers(1, 256))
            done.append(f"{pos}: {old:#04x}->{buf[pos]:#04x}")
        return bytes(buf), f"header bytes changed ({', '.join(done)}) of the first {span}"
    raise ValueError(corruption)


def header_bytes(rel):
    return HEADER_BYTES.get(Path(rel).suffix, 512)


# --- what the run reads of a file, decoded without nsdval ---------------------------------------
def region_voxels(root, region):
    """``(n, 3)`` (X, Y, Z) indexes of region's voxels in the original ROI volumes."""
    import nibabel as nib

    names, labels = ROI_LABELS[region]
    masks = [
        np.isin(np.asarray(nib.load(root / f"subj01/rois/{n}.nii.gz").get_fdata()), labels)
        for n in names
    ]
    return np.argwhere(np.any(masks, axis=0))


def betas_view(path, voxels):
    import h5py

    with h5py.File(path, "r") as f:
        dset = f["betas"]
        view = {"shape": np.array(dset.shape), "dtype": np.array(dset.dtype.str)}
        # ROI volumes are (X, Y, Z), the betas (trials, Z, Y, X)
        view["values at the region's voxels"] = np.stack([dset[:, z, y, x] for x, y, z in voxels])
    return view


def nifti_view(path, rel, region, voxels):
    import nibabel as nib

    data = np.asarray(nib.load(path).get_fdata())
    view = {"shape": np.array(data.shape)}
    if Path(rel).name == "ncsnr.nii.gz":
        view["values at the region's voxels"] = data[tuple(voxels.T)]
    else:
        view["region mask"] = np.isin(data, ROI_LABELS[region][1])
    return view


def design_view(path):
    import scipy.io

    mat = scipy.io.loadmat(path)
    return {name: np.asarray(mat[name]) for name in ("masterordering", "subjectim", "sharedix")}


def split_view(path):
    import pandas as pd

    table = pd.read_csv(path)
    view = {"columns": np.array([str(c) for c in table.columns], dtype=object)}
    for column in table.columns:
        view[f"column {column}"] = table[column].to_numpy()
        view[f"column {column} dtype"] = np.array(str(table[column].dtype))
    return view


def score_view(path):
    score = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(score, dict):
        raise ValueError(f"a JSON {type(score).__name__}, not an object")
    subjects = score.get("subjects")
    view = {key: score.get(key, "<missing>") for key in SCORE_SCOPE}
    view["subjects.subj01"] = (
        subjects.get("subj01", "<missing>") if isinstance(subjects, dict) else subjects
    )
    return {key: np.array(json.dumps(value, sort_keys=True)) for key, value in view.items()}


def neuroid_scope(array, region):
    """Neuroids of the region (any subject) and of subj01 in it, from the original file."""
    n = array.sizes.get("neuroid", 0)
    in_region = np.ones(n, bool)
    if "region" in array.coords:
        in_region &= np.asarray(array["region"].values).astype(str) == region
    in_scope = in_region.copy()
    if "subject" in array.coords:
        in_scope &= np.asarray(array["subject"].values).astype(str) == "subj01"
    return in_region, in_scope


def netcdf_view(path, original, region):
    import xarray as xr

    array = xr.load_dataarray(path)
    in_region, in_scope = neuroid_scope(xr.load_dataarray(original), region)
    values = np.asarray(array.values)
    view = {
        "dims": np.array(array.dims),
        "shape": np.array(values.shape),
        "dtype": np.array(values.dtype.str),
        "coordinate names": np.array(sorted(map(str, array.coords))),
    }
    scoped = "neuroid" in array.dims and array.sizes["neuroid"] == in_scope.size
    if scoped:
        axis = array.dims.index("neuroid")
        view["values of subj01's region neuroids"] = np.take(
            values, np.flatnonzero(in_scope), axis
        )
        view["finite values"] = np.isfinite(values)
    else:
        view["values"] = values
    for name, coord in array.coords.items():
        data = np.asarray(coord.values)
        if scoped and coord.dims == ("neuroid",):
            if name in VOXEL_COORDS:
                data = data[in_region]
            elif name == "nc_testset":
                view[f"coordinate {name} valid"] = np.isfinite(data) & (data >= 0) & (data <= 100)
                data = data[in_scope]
        view[f"coordinate {name}"] = data
        view[f"coordinate {name} dims"] = np.array(coord.dims)
    return view


def read_view(root, rel, region, original_root):
    """What a `--subjects 1 --regions REGION` run reads of ``root / rel``."""
    path = Path(root) / rel
    suffix = "".join(Path(rel).suffixes[-2:]) if rel.endswith(".nii.gz") else Path(rel).suffix
    if suffix == ".hdf5":
        return betas_view(path, region_voxels(original_root, region))
    if suffix == ".nii.gz":
        return nifti_view(path, rel, region, region_voxels(original_root, region))
    if suffix == ".mat":
        return design_view(path)
    if suffix == ".csv":
        return split_view(path)
    if suffix == ".json":
        return score_view(path)
    if suffix == ".nc":
        return netcdf_view(path, Path(original_root) / rel, region)
    raise ValueError(rel)


VALUE_TOLERANCE = 1e-6
"""Float differences below this (absolute and relative) are below every check's tolerance:
a flipped low mantissa bit is a change nsdval cannot and need not see."""


def equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f" and b.dtype.kind == "f" and a.shape == b.shape:
        tol = VALUE_TOLERANCE
        return bool(np.allclose(a, b, rtol=tol, atol=tol, equal_nan=True))
    try:
        return np.array_equal(a, b, equal_nan=True)
    except TypeError:  # strings and objects have no NaN
        return np.array_equal(a, b)


def differences(before, after):
    """What differs between two views, one line per entry."""
    found = []
    for key in sorted(set(before) | set(after)):
        if key not in after or key not in before:
            found.append(f"{key}: {'gone' if key in before else 'new'}")
            continue
        a, b = np.asarray(before[key]), np.asarray(after[key])
        if a.shape != b.shape:
            found.append(f"{key}: shape {a.shape} -> {b.shape}")
        elif not equal(a, b):
            if a.ndim == 0:
                found.append(f"{key}: {a.item()!r} -> {b.item()!r}")
                continue
            try:
                differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
                size = f", max |difference| {np.max(np.abs(a[differ] - b[differ])):.3g}"
            except TypeError:
                differ, size = a != b, ""
            found.append(f"{key}: {int(np.sum(differ))} of {a.size} values differ{size}")
    return found


def decode_differences(original_root, root, rel, region):
    """:func:`differences` of the original and the corrupted file, in a child process."""
    argv = [sys.executable, __file__, str(original_root), str(root), rel, region]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=DECODE_BOUND)
    except subprocess.TimeoutExpired:
        return [f"decoding with plain libraries hangs (more than {DECODE_BOUND} s)"]
    assert proc.returncode == 0, f"the independent decoder failed:\n{proc.stderr}"
    return json.loads(proc.stdout.splitlines()[-1])


def decoder_main(original_root, root, rel, region):
    """Print, as JSON, how the file under ``root`` differs from the original (in scope)."""
    original_root = Path(original_root)
    original = read_view(original_root, rel, region, original_root)
    try:
        found = differences(original, read_view(root, rel, region, original_root))
    except Exception as exc:  # the libraries raise many types for damaged files
        found = [f"does not decode: {type(exc).__name__}: {' '.join(str(exc).split())}"]
    print(json.dumps(found))


# --- running nsdval -----------------------------------------------------------------------------
class Result:
    def __init__(self, code, stdout, stderr, seconds):
        self.code, self.stdout, self.stderr, self.seconds = code, stdout, stderr, seconds

    def __str__(self):
        lines = self.stderr.strip().splitlines() or ["(empty stderr)"]
        text = f"exit {self.code} after {self.seconds:.1f} s; stderr: {lines[0]!r}"
        if len(lines) > 1:
            text += f" ... ({len(lines)} lines) ... {lines[-1]!r}"
        return text


def kill_tree(proc):
    """Kill a child that overran and every process it started (kernels leave its group)."""
    import psutil

    try:
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=10)


def run_nsdval(tree, out, region, options):
    argv = [str(NSDVAL), "run", "--nsd-root", str(tree), "--out", str(out)]
    argv += ["--subjects", "1", "--regions", region, "--jobs", "1", *options]
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        encoding="utf-8",
        errors="replace",
        env=ENV,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=BOUND)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        try:
            stdout, stderr = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            stdout, stderr = "", "(pipes held open by a descendant)"
        last = stderr.strip().splitlines()[-1:] or ["(empty stderr)"]
        pytest.fail(f"nsdval run did not end within {BOUND} s (killed); stderr: {last[0]!r}")
    return Result(proc.returncode, stdout, stderr, time.monotonic() - start)


RUN_OPTIONS = ["--read-timeout", str(READ_TIMEOUT)]


def prepare(tiny_tree, tmp_path):
    """A private copy of the tiny tree and an OUT that holds only the sentinel."""
    tree = Path(shutil.copytree(tiny_tree, tmp_path / "nsd"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_bytes(SENTINEL)
    return tree, out


def results_summary(out):
    """The reports' statuses, with errors and failed checks, for messages."""
    results = json.loads((out / "results.json").read_text())
    parts = []
    for record in results["reports"]:
        failed = [c["name"] for c in record["checks"] if c["status"] == "fail"]
        error = record.get("error") or {}
        detail = f" {error.get('ename')}: {error.get('evalue')}" if error else ""
        parts.append(f"{record['id']} {record['status']}{detail} failed={failed}")
    return results, "; ".join(parts)


def check_refusal(result, broken, out, context):
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"exit 2 should print one stderr line, printed {len(lines)}: {context}"
    assert lines[0].startswith("nsdval: error: "), context
    assert broken.name in lines[0], f"exit 2 does not name {broken.name}: {context}"
    left = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert left == ["keep.txt"], f"exit 2 changed OUT, which holds {left}: {context}"
    assert (out / "keep.txt").read_bytes() == SENTINEL, f"exit 2 rewrote the sentinel: {context}"


def check_run(result, *, broken, out, context, unchanged):
    """The contract of one run; ``unchanged()`` lists what differs in what the run reads."""
    context = f"{context}\n  {result}"
    assert result.code in (0, 1, 2), f"exit code outside 0, 1, 2: {context}"
    for stream in (result.stdout, result.stderr):
        for marker in ("Traceback", "Exception ignored"):
            assert marker not in stream, f"{marker!r} printed: {context}\n{stream[-3000:]}"
    beside = sorted(p.name for p in out.parent.iterdir())
    assert beside == ["nsd", "out"], f"left beside OUT: {beside}: {context}"
    if result.code == 2:
        check_refusal(result, broken, out, context)
    elif result.code == 1:
        assert (out / "results.json").is_file(), f"exit 1 without results.json: {context}"
        results, reports = results_summary(out)
        errored = [r["id"] for r in results["reports"] if r["status"] == "error"]
        assert not errored, f"exit 1 with errored reports {errored}: {context}\n  {reports}"
        failed = [c for r in results["reports"] for c in r["checks"] if c["status"] == "fail"]
        assert failed, f"exit 1 without a failed check: {context}\n  {reports}"
    else:
        found = unchanged()
        assert not found, f"exit 0 although the corruption went unnoticed: {found}: {context}"


@pytest.mark.parametrize(
    ("kind", "rel", "corruption", "seed"), CASES, ids=[f"{k}-{c}-{s}" for k, _, c, s in CASES]
)
def test_fuzz(kind, rel, corruption, seed, tiny_tree, tmp_path):
    rng = np.random.default_rng(seed)
    region = "IT" if "streams" in rel else "V4"
    rel = rel.format(region=region)
    tree, out = prepare(tiny_tree, tmp_path)
    broken = tree / rel
    data, what = corrupt(broken.read_bytes(), corruption, rng, header_bytes(rel))
    broken.write_bytes(data)
    result = run_nsdval(tree, out, region, RUN_OPTIONS)
    check_run(
        result,
        broken=broken,
        out=out,
        context=f"{rel} {what}",
        unchanged=lambda: decode_differences(tiny_tree, tree, rel, region),
    )


# --- the known hang: zeroed HDF5 metadata of a netCDF assembly ----------------------------------
HANG_BLOCK = 3584
"""Bytes zeroed per probe (3.5 KB)."""
PROBE_TIMEOUT = 5
"""Seconds a plain open of one probe may take before it counts as a hang."""
SCAN_LIMIT = 90
"""Seconds the whole scan may take."""
PROBE = """
import sys
from pathlib import Path

import xarray as xr

source = Path(sys.argv[1]).read_bytes()
probe = Path(sys.argv[2])
size = int(sys.argv[3])
for line in sys.stdin:
    offset = int(line)
    data = bytearray(source)
    data[offset:offset + size] = bytes(len(data[offset:offset + size]))
    probe.write_bytes(data)
    print(offset, flush=True)
    try:
        with xr.open_dataarray(probe) as array:
            array.load()
    except Exception:
        pass
    print("done", flush=True)
"""


def first_hanging_offset(path, workdir):
    """The first offset (steps of 512 B, first 64 KB) where zeroing a block hangs a plain open.

    One child process probes the offsets in turn; a probe that does not finish within
    :data:`PROBE_TIMEOUT` is a hang, and the child is killed. None when no offset hangs.
    """
    offsets = range(0, min(64 * 1024, path.stat().st_size - HANG_BLOCK) + 1, 512)
    argv = [sys.executable, "-c", PROBE, str(path), str(workdir / "probe.nc"), str(HANG_BLOCK)]
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV
    )
    proc.stdin.write("".join(f"{offset}\n" for offset in offsets))
    proc.stdin.close()
    deadline = time.monotonic() + SCAN_LIMIT
    probing, started = None, time.monotonic()
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        try:
            while time.monotonic() < deadline:
                # before the first probe the child imports xarray
                wait = PROBE_TIMEOUT if probing is not None else 60
                if not selector.select(timeout=min(wait, deadline - time.monotonic())):
                    hung = probing is not None and time.monotonic() - started >= PROBE_TIMEOUT
                    return probing if hung else None
                line = proc.stdout.readline()
                if not line:
                    return None
                probing = None if line.strip() == "done" else int(line)
                started = time.monotonic()
            return None
        finally:
            proc.kill()
            proc.wait()


@pytest.fixture
def hanging_tree(tiny_tree, tmp_path, tmp_path_factory):
    """A tree copy whose Brain-Score test assembly hangs a plain `xarray.open_dataarray`."""
    tree, out = prepare(tiny_tree, tmp_path)
    path = tree / TEST
    offset = first_hanging_offset(path, tmp_path_factory.mktemp("probe"))
    if offset is None:
        pytest.skip(f"no zeroed {HANG_BLOCK} B block hangs xarray.open_dataarray on {TEST}")
    data = bytearray(path.read_bytes())
    data[offset : offset + HANG_BLOCK] = bytes(HANG_BLOCK)
    path.write_bytes(bytes(data))
    return tree, out, path, offset


def test_metadata_that_hangs_the_reader_stops_the_run(hanging_tree):
    tree, out, broken, offset = hanging_tree
    result = run_nsdval(tree, out, "V4", RUN_OPTIONS)
    context = f"{TEST} zeroed bytes {offset}:{offset + HANG_BLOCK} (a plain open hangs)"
    assert result.code == 2, f"{context}\n  {result}"
    check_run(result, broken=broken, out=out, context=context, unchanged=list)


if __name__ == "__main__":
    decoder_main(*sys.argv[1:])
