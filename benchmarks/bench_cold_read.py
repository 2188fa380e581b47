"""Cold read of a subject's four regions: bytes and seconds with the page cache dropped.

On a ``full`` preset tree (one subject at subj01's real size, betas chunked per voxel as NSD
ships them, or rewritten with ``--layout``), drops the page cache of every file of the tree
(``fdatasync`` and ``POSIX_FADV_DONTNEED`` per file), then measures, each from a cold cache:

- nsdval's ``extract_subject`` for V1, V2, V4 and IT (the images shown three times): one
  ``read_direct_chunk`` per voxel through HDF5's descriptor advised ``POSIX_FADV_RANDOM``
  for per-voxel chunks, a bounding-box read otherwise;
- for ``--layout per-trial`` or ``contiguous``, the best read for that layout: an h5py
  bounding-box read of the union of the four regions' voxels, per session;
- the seed notebook's section-2 loop for V4 (every session read whole with ``betas[:]``).

Bytes read are the page-cache-resident bytes of the session files afterwards (``mincore``
on a mapping of each file, page by page, checked against a full read and against util-linux
``fincore``). With per-voxel chunks they are compared with the bytes needed: the wanted
voxels' chunks (voxels x trials x 2 B per session) plus the HDF5 metadata nsdval's pass read,
taken as its resident bytes on pages that hold no wanted chunk. Which pages hold the wanted
chunks comes from one walk of each session's chunk index with ``chunk_iter``, done after
every cold pass (``get_chunk_info_by_coord`` scans the index: up to 170 ms per voxel with
HDF5 2.0). nsdval's warm pass (files in page cache) is timed too, and the cold reads are
projected to a whole NSD drive (284 sessions). Wall times of a cold read depend on the
storage (a virtual disk may be served from the host's cache); the bytes do not.

    python benchmarks/bench_cold_read.py                  # 1 session, generated in /tmp
    python benchmarks/bench_cold_read.py --real           # 3 sessions (~3.2 GB in /tmp)
    python benchmarks/bench_cold_read.py --tree DIR --sessions 3   # reuse a full tree
    python benchmarks/bench_cold_read.py --tree DIR --layout per-trial   # rewritten copies

With ``--layout per-trial`` or ``contiguous`` the sessions are rewritten with that storage
first (same values; a view of ``--tree`` gets new files, the tree is left as it is).
"""

import argparse
import ctypes
import math
import mmap
import os
import shutil
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
from common import (
    STORAGE,
    add_tree_options,
    best_of,
    full_tree,
    header,
    parse_args,
    relayout,
    seed_bypass,
)

from nsdval.analysis import extraction
from nsdval.data.expdesign import load_expdesign
from nsdval.data.layout import detect_layout
from nsdval.data.spaces import open_space

REGIONS = ("V1", "V2", "V4", "IT")
SEED_REGION = "V4"
NSD_SESSIONS = (40, 40, 32, 30, 40, 32, 40, 30)  # subjects 1-8, 284 sessions in all
TARGET = 3.0  # bytes read / (chunks + metadata), per-voxel chunks: the target
LAYOUT_TARGET = 2.0  # nsdval / the best read for the layout, other layouts: the target
PAGE = mmap.PAGESIZE
MB = 1e6

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
_MAP_FAILED = ctypes.c_void_p(-1).value


# ---------------------------------------------------------------- page cache


def tree_files(root):
    """Every file of the tree, through symlinks (a ``--tree`` view), as resolved paths."""
    found = set()
    for folder, _, names in os.walk(root, followlinks=True):
        found.update(Path(folder, name).resolve() for name in names)
    return sorted(path for path in found if path.is_file())


def drop_cache(paths):
    """Write back and evict the page cache of each file (``POSIX_FADV_DONTNEED``)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fdatasync(fd)  # dirty pages of a just-written file are not evicted
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def resident_pages(path):
    """(n_pages,) bool array: which pages of ``path`` are in the page cache (``mincore``)."""
    size = Path(path).stat().st_size
    if size == 0:
        return np.zeros(0, dtype=bool)
    vec = (ctypes.c_ubyte * (-(-size // PAGE)))()
    fd = os.open(path, os.O_RDONLY)
    try:
        # a mapping of our own: mincore needs its address; mapping touches no page
        addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr is None or addr == _MAP_FAILED:
            raise OSError(ctypes.get_errno(), f"mmap of {path} failed")
        try:
            if _libc.mincore(addr, size, vec) != 0:
                raise OSError(ctypes.get_errno(), f"mincore of {path} failed")
        finally:
            _libc.munmap(addr, size)
    finally:
        os.close(fd)
    return (np.frombuffer(vec, dtype=np.uint8) & 1).astype(bool)


def page_bytes(pages, size):
    """Bytes of the file covered by the pages flagged in ``pages`` (the last one clipped)."""
    total = int(pages.sum()) * PAGE
    if len(pages) and pages[-1]:
        total -= len(pages) * PAGE - size
    return total


def resident_bytes(path):
    """Bytes of ``path`` in the page cache."""
    return page_bytes(resident_pages(path), Path(path).stat().st_size)


def resident_total(paths):
    return sum(resident_bytes(path) for path in paths)


def fincore(path):
    """util-linux ``fincore``'s line for ``path`` (RES PAGES SIZE FILE), or None."""
    if shutil.which("fincore") is None:
        return None
    cmd = ["fincore", "--bytes", "--noheadings", str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return " ".join(done.stdout.split()) or done.stderr.strip()


def check_mincore(path):
    """A full read must leave the whole file resident, DONTNEED next to nothing."""
    size = Path(path).stat().st_size
    drop_cache([path])
    with Path(path).open("rb", buffering=0) as f:
        while f.read(8 * 2**20):
            pass
    full = resident_bytes(path)
    drop_cache([path])
    dropped = resident_bytes(path)
    print(
        f"# mincore check on {Path(path).name} ({size} bytes): read whole -> {full} resident, "
        f"after DONTNEED -> {dropped}",
        flush=True,
    )
    if full != size or dropped > size // 100:
        raise RuntimeError(f"mincore disagrees with a full read of {path}: {full}, {dropped}")


# ---------------------------------------------------------------- passes


def box_read(paths, coords):
    """Read the bounding box of ``coords`` from each session with h5py (its default I/O)."""
    low, high = coords.min(axis=0), coords.max(axis=0) + 1
    for path in paths:
        with h5py.File(path, "r") as f:
            f["betas"][:, low[0] : high[0], low[1] : high[1], low[2] : high[2]]


def chunk_table(path):
    """Byte offset and size of every chunk of a session's betas, by chunk coordinate.

    One walk of the chunk index (``chunk_iter``); offset -1 for a chunk never written.
    """
    with h5py.File(path, "r") as f:
        dset = f["betas"]
        chunks = np.array(dset.chunks)
        grid = tuple(-(-np.array(dset.shape) // chunks))
        starts, offsets, sizes = [], [], []

        def visit(info):
            starts.append(info.chunk_offset)
            offsets.append(info.byte_offset)
            sizes.append(info.size)

        dset.id.chunk_iter(visit)
    where = tuple((np.array(starts, dtype=np.int64) // chunks).T)
    table = np.full(grid, -1, dtype=np.int64), np.zeros(grid, dtype=np.int64)
    table[0][where] = offsets
    table[1][where] = sizes
    return table


def chunk_pages(n_pages, offsets, sizes):
    """(n_pages,) bool array: the pages holding some byte of the given chunks."""
    first = offsets // PAGE
    last = (offsets + sizes - 1) // PAGE
    edges = np.zeros(n_pages + 1, dtype=np.int64)
    np.add.at(edges, first, 1)
    np.add.at(edges, last + 1, -1)
    return np.cumsum(edges[:-1]) > 0


def cold(files, func, *args, **kwargs):
    """Seconds and result of one call of ``func`` after dropping the page cache of ``files``."""
    drop_cache(files)
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return time.perf_counter() - start, result


# ---------------------------------------------------------------- report


def sig(value, digits=3):
    """``value`` with ``digits`` significant digits, never in exponent notation."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def ratio_line(label, value, note=""):
    print(f"{label:<46} {sig(value):>9}x" + (f"   ({note})" if note else ""), flush=True)


def compare(label, ours, base, base_name, unit, ours_name="nsdval"):
    """nsdval's and a baseline's measurement, and base / nsdval to 3 significant digits."""
    print(
        f"{label:<46} {ours_name} {sig(ours):>8} {unit:<3}   {base_name} {sig(base):>8} "
        f"{unit:<3}   {base_name} / {ours_name} {sig(base / ours):>7}x",
        flush=True,
    )


def verdict(value, target):
    return f"{'meets' if value <= target else 'MISSES'} the <= {target:g}x target"


def projection(label, bytes_per_session, seconds_per_session):
    n = sum(NSD_SESSIONS)
    gb, minutes = bytes_per_session * n / 1e9, seconds_per_session * n / 60
    print(
        f"{label:<46} {bytes_per_session / MB:9.2f} MB/session x {n} = {sig(gb):>7} GB, "
        f"{seconds_per_session:7.3f} s/session x {n} = {sig(minutes):>6} min",
        flush=True,
    )
    return gb, minutes


def resident_line(label, nbytes, seconds, note=""):
    print(
        f"{label:<46} {nbytes / MB:9.2f} MB resident, {seconds:7.3f} s"
        + (f"; {note}" if note else ""),
        flush=True,
    )


def chunk_accounting(betas, sizes, every, pages, needed):
    """Split nsdval's resident pages into the wanted chunks' pages and HDF5 metadata.

    Walks each session's chunk index once (warm: call it after the cold passes).
    """
    start = time.perf_counter()
    chunk_bytes = on_chunks = metadata = chunk_page_bytes = missing = n_chunks = 0
    for path, size, resident in zip(betas, sizes, pages, strict=True):
        offsets, lengths = chunk_table(path)
        n_chunks += int((offsets >= 0).sum())
        i, j, k = every.T
        wanted_offsets, wanted_sizes = offsets[0, i, j, k], lengths[0, i, j, k]
        if np.any(wanted_offsets < 0):
            raise RuntimeError(f"{path.name}: {(wanted_offsets < 0).sum()} chunks never written")
        chunk_bytes += int(wanted_sizes.sum())
        wanted = chunk_pages(len(resident), wanted_offsets, wanted_sizes)
        on_chunks += page_bytes(resident & wanted, size)
        metadata += page_bytes(resident & ~wanted, size)
        chunk_page_bytes += page_bytes(wanted, size)
        missing += int((wanted & ~resident).sum())
    seconds = time.perf_counter() - start
    if chunk_bytes != needed:
        raise RuntimeError(f"wanted chunks hold {chunk_bytes} bytes, {needed} expected")
    print(
        f"# chunk index walked once per session with chunk_iter (warm, after the cold "
        f"passes): {seconds:.2f} s for {n_chunks} chunks",
        flush=True,
    )
    return on_chunks, metadata, chunk_page_bytes, missing


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_tree_options(parser)
    parser.add_argument("--repeats", type=int, default=1, help="best of this many warm runs")
    args = parse_args(parser, {"sessions": 3})
    header("bench_cold_read: bytes and seconds of a cold four-region pass vs the seed's read")
    with full_tree(args.sessions, args.tree) as root:
        relayout(root, args.layout)
        files = tree_files(root)
        layout = detect_layout(root)
        betas = [layout.betas(1, s).resolve() for s in layout.sessions(1)]
        others = [path for path in files if path not in betas]
        check_mincore(max(others, key=lambda p: p.stat().st_size))
        design = load_expdesign(layout.expdesign())
        space = open_space(layout)
        ids = extraction.reference_images(space, design, [1])
        if ids.size == 0:
            raise SystemExit("no image is shown three times within the sessions")
        with h5py.File(betas[0], "r") as f:
            shape, chunks = f["betas"].shape, f["betas"].chunks
        coords = {r: space.region_units(1, r) for r in REGIONS}
        every = np.concatenate(list(coords.values()))
        sizes = [path.stat().st_size for path in betas]
        n_sessions = len(betas)
        counts = ", ".join(f"{r} {len(c)}" for r, c in coords.items())
        print(
            f"# {n_sessions} session(s) of {shape} int16, {args.layout} storage "
            f"(chunks {chunks}), {np.mean(sizes) / MB:.1f} MB each; "
            f"{len(every)} voxels ({counts}); {ids.size} images",
            flush=True,
        )

        # nsdval, cold then warm
        log = extraction.ReadLog()
        args_ = (space, design, 1, REGIONS, ids)
        ours_cold, result = cold(files, extraction.extract_subject, *args_, log=log)
        pages = [resident_pages(path) for path in betas]
        ours_read = sum(page_bytes(p, s) for p, s in zip(pages, sizes, strict=True))
        other_read = resident_total(others)
        voxels = sum(len(result[r].coords) for r in REGIONS)
        if voxels != len(every):
            raise RuntimeError(f"{voxels} voxels extracted, {len(every)} in the regions")
        needed = voxels * shape[0] * 2 * n_sessions
        resident_line(
            "nsdval extract_subject (cold)",
            ours_read,
            ours_cold,
            f"ReadLog {log.bytes_read / MB:.2f} MB of values; "
            f"{other_read / MB:.2f} MB of ROI/design files",
        )
        print(
            f"# cross-check {betas[0].name}: mincore {int(pages[0].sum())} pages "
            f"= {page_bytes(pages[0], sizes[0])} bytes; fincore: {fincore(betas[0])}",
            flush=True,
        )
        ours_warm, _ = best_of(extraction.extract_subject, *args_, repeats=args.repeats)
        print(f"{'nsdval extract_subject (warm)':<46} {ours_warm:25.3f} s", flush=True)

        # the best read for a rewritten layout, cold
        if STORAGE[args.layout] is not None:
            box_cold, _ = cold(files, box_read, betas, every)
            box_bytes = resident_total(betas)
            resident_line("h5py bounding box of the four regions (cold)", box_bytes, box_cold)

        # the seed, cold
        seed_cold, per_rep = cold(files, seed_bypass, root, 1, SEED_REGION, ids)
        seed_read = resident_total(betas)
        ours_z = np.moveaxis(result[SEED_REGION].session_z, 0, 1)
        assert np.allclose(per_rep, ours_z, atol=1e-5), "seed and nsdval differ"
        resident_line(
            f"seed loop, {SEED_REGION} (cold)",
            seed_read,
            seed_cold,
            f"{seed_read / sum(sizes):.3f} of the session files",
        )

        print(
            f"# ---- summary: {n_sessions} session(s), {args.layout} storage, page cache "
            "dropped before each cold pass"
        )
        if STORAGE[args.layout] is None:
            on_chunks, metadata, chunk_page_bytes, missing = chunk_accounting(
                betas, sizes, every, pages, needed
            )
            print(
                f"# needed: {needed / MB:.2f} MB of chunks ({voxels} voxels x {shape[0]} "
                f"trials x 2 B x {n_sessions}); nsdval's {ours_read / MB:.2f} MB resident = "
                f"{on_chunks / MB:.2f} MB on pages holding wanted chunks + "
                f"{metadata / MB:.2f} MB of HDF5 metadata (pages holding none); pages "
                f"holding the chunks: {chunk_page_bytes / MB:.2f} MB, {missing} of them "
                "not resident"
            )
            over = ours_read / (needed + metadata)
            ratio_line("nsdval read / (chunks + metadata)", over, verdict(over, TARGET))
            ratio_line("nsdval read / chunks alone", ours_read / needed)
            ratio_line(
                "pages of chunks / chunks",
                chunk_page_bytes / needed,
                f"the floor of {PAGE}-byte pages",
            )
        else:
            print(f"# needed: {needed / MB:.2f} MB of values; best read: the bounding box")
            over = ours_read / box_bytes
            ratio_line("nsdval bytes / best read's", over, verdict(over, LAYOUT_TARGET))
            over = ours_cold / box_cold
            ratio_line("nsdval seconds / best read's", over, verdict(over, LAYOUT_TARGET))
            ratio_line("nsdval read / values needed", ours_read / needed)
        compare("bytes read, cold", ours_read / MB, seed_read / MB, "seed", "MB")
        compare("wall time, cold", ours_cold, seed_cold, "seed", "s")
        compare("nsdval warm vs cold", ours_warm, ours_cold, "cold", "s", "warm")
        print(
            f"# projection to a whole NSD drive ({len(NSD_SESSIONS)} subjects, "
            f"{'+'.join(map(str, NSD_SESSIONS))} sessions), from the cold passes above; "
            "assumes subj01's region sizes for every subject (their voxel counts differ)"
        )
        nsd = projection("nsdval, four regions", ours_read / n_sessions, ours_cold / n_sessions)
        seed = projection(
            f"seed, {SEED_REGION} (whole sessions)", seed_read / n_sessions, seed_cold / n_sessions
        )
        compare("whole drive, GB read", nsd[0], seed[0], "seed", "GB")
        compare("whole drive, minutes", nsd[1], seed[1], "seed", "min")


if __name__ == "__main__":
    main()
