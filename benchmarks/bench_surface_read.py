"""Surface extraction of a real-size subject: seconds, bytes read cold and peak memory.

On a ``full`` preset surface tree (``nsdval synth --preset full --space surface``: subj01 on
fsaverage, ``{lh,rh}.betas_sessionNN.mgh`` of (163842, 1, 1, 750) big-endian float32, about
491 MB each), measures in one run:

- nsdval's ``extract_subject`` for V1, V2, V4 and IT in one pass (the images shown three
  times within the sessions), warm (best of ``--repeats``, wall and CPU seconds) and cold;
  then cold with the session files' page cache dropped after every read (a ``progress``
  callback; the next session is then not read ahead, ``extraction.READ_AHEAD``): the
  extraction reads each session once per block of units, and a real
  subject's 40 sessions (39 GB) do not stay in a 24 GB machine's page cache from one block
  to the next;
- the reads alone, warm: nsdval's ``read_stored`` of the four regions' vertices, session by
  session, against the notebook's ``get_fdata()`` of every file once per region;
- the surface packaging notebook's read (``05_surface_assembly_validation``): per session
  and hemisphere ``nib.load(path).get_fdata()``, the whole file as float64, then the
  region's vertices, z-scored over the session (float64, not NaN-aware) and the
  repetitions kept; once per region, as the notebook runs (four passes), and read whole
  once for all four regions; warm and cold (the four passes also with the cache dropped
  before each, as with 40 sessions);
- bytes read cold: the pages of each betas file in page cache after nsdval's cold pass
  (``mincore`` page by page, checked against a full read and util-linux ``fincore``; cache
  dropped per file with ``fdatasync`` and ``POSIX_FADV_DONTNEED``), against the pages that
  hold the wanted vertices: for each trial t and wanted vertex v, the 4 KB pages covering
  the 4 bytes at ``data_offset + 4 (v + 163842 t)``; and the bytes of the evicted pass
  (resident bytes after each read, summed);
- peak RSS (``VmHWM``) in fresh processes: nsdval for each count of ``--rss-sessions``, with
  the images of those sessions and with the images of the fewest (which isolates the
  sessions), and the notebook's loop for V4 over the fewest sessions;
- that both give the same values: nsdval's raw betas and session z-scores against the
  notebook's, NaN in the same cells, max abs difference elsewhere.

The synthetic labels scatter each region uniformly over the vertex indexes, so nearly
every 4 KB page (1024 vertices of one trial) holds a wanted vertex: the wanted pages are the
whole files. On fsaverage the regions are patches of an icosahedral mesh whose vertices are
numbered level by level as it is subdivided, so a region's vertices cluster in index and
fewer pages hold them. ``--labels ico`` rewrites the tree's V1, V2, V4 and IT labels (same
vertex counts per hemisphere) as patches of an icosahedron subdivided 7 times (163 842
vertices, each level's new vertices appended in the order their edges are met, faces in
subdivision order; fsaverage is built that way, its exact order within a level is not
reproduced), to measure the bytes where they are not the whole file.

    python benchmarks/bench_surface_read.py               # 1 session (RSS: 1 and 2), in /tmp
    python benchmarks/bench_surface_read.py --real        # 4 sessions (RSS: 2 and 4), ~4 GB
    python benchmarks/bench_surface_read.py --tree DIR --sessions 2 --labels ico
"""

import argparse
import dataclasses
import json
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from bench_cold_read import (
    MB,
    PAGE,
    check_mincore,
    compare,
    drop_cache,
    fincore,
    page_bytes,
    ratio_line,
    resident_pages,
    resident_total,
    tree_files,
)
from common import (
    full_tree,
    header,
    measure_child,
    parse_args,
    peak_rss_mb,
    rss_line,
    seed_trial_info,
    session_view,
)

REGIONS = ("V1", "V2", "V4", "IT")
HEMIS = ("lh", "rh")
LABELS = {"V1": ("Kastner2015", (1, 2)), "V2": ("Kastner2015", (3, 4))}
LABELS.update(V4=("Kastner2015", (7,)), IT=("streams", (5,)))
RSS_REGION = "V4"
SPEED_TARGET = 10.0  # notebook / nsdval, four regions
BYTES_TARGET = 1.5  # nsdval's bytes read cold / the pages holding the wanted vertices
RSS_TARGET = 400.0  # MB


def surface_space(root):
    """The tree's surface space and design."""
    from nsdval.data.expdesign import load_expdesign
    from nsdval.data.layout import detect_layout
    from nsdval.data.spaces import open_space

    layout = dataclasses.replace(detect_layout(root), space="surface")
    return open_space(layout), load_expdesign(layout.expdesign())


def betas_paths(root):
    """Session files, session by session, lh then rh."""
    return sorted(Path(root, "subj01", "betas").glob("?h.betas_session*.mgh"), key=session_key)


def session_key(path):
    return int(path.name[-6:-4]), path.name[:2]


# ---------------------------------------------------------------- the notebook's read


def notebook_vertices(root, regions):
    """Each region's vertices per hemisphere, from the label files with nibabel."""
    folder = Path(root, "fsaverage_labels")
    out = {}
    for region in regions:
        name, values = LABELS[region]
        out[region] = [
            np.flatnonzero(
                np.isin(nib.load(folder / f"{h}.{name}.mgz").get_fdata().ravel(), values)
            )
            for h in HEMIS
        ]
    return out


def notebook_pass(root, regions, nsd_ids):
    """The notebook's loop for some regions: every session read whole, per hemisphere.

    Returns ``{region: (raw, z)}``, each (n_images, 3, n_vertices) float64 (NaN where no
    trial was kept).
    """
    vertices = notebook_vertices(root, regions)
    sessions = sorted({session_key(p)[0] for p in betas_paths(root)})
    ids = sorted(int(i) for i in nsd_ids)
    row_of = {nsd_id: i for i, nsd_id in enumerate(ids)}
    trials = seed_trial_info(Path(root), 1, set(ids), 750, n_sessions=len(sessions))
    out = {}
    for region in regions:
        n = sum(len(v) for v in vertices[region])
        out[region] = (np.full((len(ids), 3, n), np.nan), np.full((len(ids), 3, n), np.nan))
    for session in sessions:
        mine = trials[trials["session"] == session]
        if len(mine) == 0:
            continue
        picked = {region: [] for region in regions}
        for index, hemi in enumerate(HEMIS):
            path = Path(root, "subj01", "betas", f"{hemi}.betas_session{session:02d}.mgh")
            data = nib.load(path).get_fdata()  # (163842, 1, 1, 750) float64
            for region in regions:
                picked[region].append(data[vertices[region][index], 0, 0, :])
            del data
        for region in regions:
            betas = np.concatenate(picked[region]).T  # (750, n_vertices)
            std = betas.std(axis=0)
            std[std == 0] = 1.0
            z = (betas - betas.mean(axis=0)) / std
            raw, zs = out[region]
            for _, r in mine.iterrows():
                raw[row_of[r["nsd_id"]], r["rep"]] = betas[r["trial_in_session"]]
                zs[row_of[r["nsd_id"]], r["rep"]] = z[r["trial_in_session"]]
    return out


def notebook_reads(root, regions):
    """The notebook's read alone, once per region: ``get_fdata()`` of every file, its vertices."""
    vertices = notebook_vertices(root, regions)
    for region in regions:
        for path in betas_paths(root):
            data = nib.load(path).get_fdata()
            data[vertices[region][HEMIS.index(path.name[:2])], 0, 0, :].copy()
            del data


def nsdval_reads(space, units):
    """nsdval's read alone: every session's betas of ``units``, one call per session."""
    for session in space.sessions(1):
        space.read_stored(1, session, units)


def notebook_per_region(root, nsd_ids, before_each=None):
    """The notebook as it runs: one pass over the sessions per region.

    ``before_each`` is called before each pass (to drop the page cache).
    """
    out = {}
    for region in REGIONS:
        if before_each is not None:
            before_each()
        out.update(notebook_pass(root, [region], nsd_ids))
    return out


class Evictor:
    """A ``progress`` callback: counts the session files' resident bytes after each read, then
    drops their page cache, so that no read finds another's pages (as when a subject's 40
    sessions, 39 GB, do not fit in memory)."""

    def __init__(self, paths):
        self.paths, self.bytes_read, self.reads = paths, 0, 0

    def __call__(self, *_):
        self.bytes_read += resident_total(self.paths)
        self.reads += 1
        drop_cache(self.paths)


# ---------------------------------------------------------------- pages and values


def wanted_pages(path, vertices):
    """(n_pages,) bool array: the pages of an MGH file that hold a wanted vertex's value."""
    image = nib.load(path)
    n_vertices, n_frames = image.shape[0], image.shape[3]
    offset = int(image.header.get_data_offset())
    size = Path(path).stat().st_size
    pages = np.zeros(-(-size // PAGE), dtype=bool)
    first, last = offset + 4 * vertices, offset + 4 * vertices + 3
    for trial in range(n_frames):
        shift = 4 * n_vertices * trial
        pages[(first + shift) // PAGE] = True
        pages[(last + shift) // PAGE] = True
    return pages


def difference(ours, theirs):
    """Max abs difference where neither is NaN; cells NaN in only one of the two."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if ours.shape != theirs.shape:
        raise RuntimeError(f"shapes differ: nsdval {ours.shape}, notebook {theirs.shape}")
    nan_ours, nan_theirs = np.isnan(ours), np.isnan(theirs)
    both = ~nan_ours & ~nan_theirs
    diff = float(np.abs(ours[both] - theirs[both]).max()) if both.any() else 0.0
    return diff, int((nan_ours != nan_theirs).sum()), int((nan_ours & nan_theirs).sum())


def compare_values(result, notebook):
    """Print and check nsdval's raw and z values against the notebook's, region by region."""
    worst = {"raw": 0.0, "z": 0.0}
    nan_cells = mismatched = 0
    for region in REGIONS:
        raw, z = notebook[region]
        for name, ours, theirs in (
            ("raw", result[region].betas, raw),
            ("z", result[region].session_z, z),
        ):
            diff, odd, nan = difference(np.moveaxis(ours, 0, 1), theirs)
            worst[name] = max(worst[name], diff)
            mismatched += odd
            nan_cells += nan if name == "raw" else 0
    print(
        f"# values, four regions: max |nsdval - notebook| raw {worst['raw']:.3g}, "
        f"session z {worst['z']:.3g} (nsdval stores z in float32); NaN in both at "
        f"{nan_cells} raw cells, in one only at {mismatched}",
        flush=True,
    )
    if mismatched or worst["raw"] > 0 or worst["z"] > 1e-5:
        raise RuntimeError("nsdval and the notebook differ")


# ---------------------------------------------------------------- ico labels


def icosphere(levels):
    """Vertices (n, 3) of an icosahedron subdivided ``levels`` times, numbered level by level."""
    t = (1 + 5**0.5) / 2
    points = np.array(
        [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t]]
        + [[0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]],
        dtype=float,
    )
    faces = np.array(
        [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4]]
        + [[11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8]]
        + [[3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]]
    )
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    for _ in range(levels):
        edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
        unique, first, inverse = np.unique(edges, axis=0, return_index=True, return_inverse=True)
        order = np.argsort(first)  # new vertices in the order their edges are first met
        rank = np.empty(len(unique), dtype=np.int64)
        rank[order] = np.arange(len(unique))
        mid = (len(points) + rank[inverse.ravel()]).reshape(-1, 3)
        new = points[unique[order]].mean(axis=1)
        points = np.vstack([points, new / np.linalg.norm(new, axis=1, keepdims=True)])
        a, b, c = faces.T
        ab, bc, ca = mid.T
        children = [(a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca)]
        faces = np.stack([np.stack(f, axis=1) for f in children], axis=1).reshape(-1, 3)
    return points


def ico_labels(points, counts, rng):
    """Kastner2015 and streams labels: V1 a disc, V2 a ring around it, V4 and IT discs."""
    free = np.ones(len(points), dtype=bool)
    kastner = np.zeros(len(points))
    streams = np.zeros(len(points))

    def disc(centre, k):
        closeness = np.where(free, points @ centre, -np.inf)
        chosen = np.argsort(-closeness, kind="stable")[:k]
        free[chosen] = False
        return chosen

    centres = points[rng.choice(len(points), 3, replace=False)]
    v1 = disc(centres[0], counts["V1"])
    v2 = disc(centres[0], counts["V2"])
    kastner[v1] = np.where(np.arange(v1.size) < v1.size // 2, 1, 2)
    kastner[v2] = np.where(np.arange(v2.size) < v2.size // 2, 3, 4)
    kastner[disc(centres[1], counts["V4"])] = 7
    streams[disc(centres[2], counts["IT"])] = 5
    return {"Kastner2015": kastner, "streams": streams}


def write_ico_labels(root):
    """Replace the tree's Kastner2015 and streams files by icosahedral patches."""
    folder = Path(root, "fsaverage_labels")
    points = None
    for seed, hemi in enumerate(HEMIS):
        counts = {r: len(v[seed]) for r, v in notebook_vertices(root, REGIONS).items()}
        if points is None:
            points = icosphere(7)
            if len(points) != nib.load(folder / f"{hemi}.streams.mgz").shape[0]:
                raise SystemExit("--labels ico needs fsaverage's 163 842 vertices per hemisphere")
        for name, values in ico_labels(points, counts, np.random.default_rng(seed)).items():
            path = folder / f"{hemi}.{name}.mgz"
            path.unlink()  # a link into --tree: replaced, never written through
            image = nib.MGHImage(values.astype(np.float32)[:, None, None], np.eye(4))
            nib.save(image, path)
    print("# labels rewritten as icosahedral patches (--labels ico)", flush=True)


# ---------------------------------------------------------------- peak memory


def child(kind, root, fixed_root):
    """Run one measurement in this process; print a JSON line."""
    from nsdval.analysis import extraction

    space, design = surface_space(root)
    id_space = surface_space(fixed_root)[0] if fixed_root else space
    ids = extraction.reference_images(id_space, design, [1])
    start = time.perf_counter()
    if kind == "nsdval":
        extraction.extract_subject(space, design, 1, REGIONS, ids)
    elif kind == "notebook":
        notebook_pass(root, [RSS_REGION], ids)
    seconds = time.perf_counter() - start
    print(json.dumps({"peak_mb": peak_rss_mb(), "seconds": seconds, "images": len(ids)}))


def memory(tree, counts, workdir):
    """Peak RSS of nsdval per session count (fresh processes) and of the notebook's loop.

    Returns the floor, nsdval's peaks per count with their images and with the fewest
    sessions' images, and the notebook's peak, in MB.
    """
    views = {n: session_view(tree, n, workdir / f"view{n}", "surface") for n in counts}
    first = views[counts[0]]
    floor = rss_line("imports only (floor)", measure_child(__file__, "imports", first))
    theirs, fixed = {}, {}
    for n in counts:
        label = f"nsdval, {n} session(s)"
        theirs[n] = rss_line(f"{label}, their images", measure_child(__file__, "nsdval", views[n]))
        fixed[n] = rss_line(
            f"{label}, images of {counts[0]}", measure_child(__file__, "nsdval", views[n], first)
        )
    notebook = rss_line(
        f"notebook loop, {RSS_REGION} only, {counts[0]} session(s)",
        measure_child(__file__, "notebook", first),
    )
    return floor, theirs, fixed, notebook


# ---------------------------------------------------------------- report


def cold(files, func, *args, **kwargs):
    """Seconds and result of one call after dropping the page cache of ``files``."""
    drop_cache(files)
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return time.perf_counter() - start, result


def bytes_report(betas, pages, units, evicted):
    """nsdval's resident pages against the pages holding the wanted vertices; the ratios."""
    read = wanted = inside = outside = missing = 0
    for path, resident in zip(betas, pages, strict=True):
        hemi = HEMIS.index(path.name[:2])
        mark = wanted_pages(path, units[units[:, 0] == hemi, 1])
        size = path.stat().st_size
        read += page_bytes(resident, size)
        wanted += page_bytes(mark, size)
        inside += page_bytes(resident & mark, size)
        outside += page_bytes(resident & ~mark, size)
        missing += int((mark & ~resident).sum())
    total = sum(path.stat().st_size for path in betas)
    print(
        f"# pages holding the wanted vertices: {wanted / MB:.1f} MB, {wanted / total:.1%} of "
        f"the betas files; nsdval's cold pass left {read / MB:.1f} MB resident = "
        f"{inside / MB:.1f} MB on them + {outside / MB:.3f} MB on others; {missing} wanted "
        "pages not resident",
        flush=True,
    )
    over = read / wanted
    verdict = "meets" if over <= BYTES_TARGET else "MISSES"
    ratio_line("nsdval bytes read / wanted pages", over, f"{verdict} the <= 1.5x target")
    over = evicted.bytes_read / wanted
    verdict = "meets" if over <= BYTES_TARGET else "MISSES"
    ratio_line(
        "same, files evicted after each read",
        over,
        f"{evicted.reads} reads, {evicted.bytes_read / MB:.0f} MB; {verdict} the target",
    )


def best_times(func, *args, repeats=1):
    """Best wall and best CPU seconds (this process, user + system) of ``repeats`` calls."""
    walls, cpus = [], []
    for _ in range(max(1, repeats)):
        wall, cpu = time.perf_counter(), time.process_time()
        func(*args)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def line(label, seconds, note=""):
    print(f"{label:<46} {seconds:9.2f} s" + (f"   ({note})" if note else ""), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1, help="sessions timed")
    parser.add_argument("--rss-sessions", default="1,2", help="session counts for peak RSS")
    parser.add_argument("--tree", type=Path, default=None, help="existing full surface tree")
    parser.add_argument(
        "--labels",
        choices=("synthetic", "ico"),
        default="synthetic",
        help="region labels: the tree's (scattered) or icosahedral patches (clustered)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="best of this many warm runs (the notebook's "
        "read once too; its four passes run once)",
    )
    parser.add_argument("--child", nargs=2, metavar=("KIND", "ROOT"), help=argparse.SUPPRESS)
    parser.add_argument("--fixed", default=None, help=argparse.SUPPRESS)
    args = parse_args(parser, {"sessions": 4, "rss_sessions": "2,4"})
    if args.child:
        child(*args.child, args.fixed)
        return
    counts = sorted(int(n) for n in args.rss_sessions.split(","))
    header("bench_surface_read: four surface regions of a real-size subject vs get_fdata")
    with full_tree(max(args.sessions, *counts), args.tree, space="surface") as tree:
        if args.labels == "ico":
            write_ico_labels(tree)
        run(session_view(tree, args.sessions, tree.parent / "timed", "surface"), args)
        print("# ---- peak RSS, fresh processes (VmHWM)")
        floor, theirs, fixed, notebook = memory(tree, counts, tree.parent)
        low, high = fixed[counts[0]], fixed[counts[-1]]
        top = max(*theirs.values(), *fixed.values())
        verdict = "meets" if top <= RSS_TARGET else "MISSES"
        print(
            f"# nsdval, same images: {low:.0f} MB at {counts[0]} session(s), {high:.0f} MB at "
            f"{counts[-1]} ({high - low:+.0f} MB); highest {top:.0f} MB: {verdict} the "
            f"<= {RSS_TARGET:.0f} MB target; floor {floor:.0f} MB; notebook {notebook:.0f} MB",
            flush=True,
        )


def run(root, args):
    """Time and count bytes on the timed tree; compare the values."""
    from nsdval.analysis import extraction

    space, design = surface_space(root)
    ids = extraction.reference_images(space, design, [1])
    units = {r: space.region_units(1, r) for r in REGIONS}
    every = np.concatenate(list(units.values()))
    betas = [path.resolve() for path in betas_paths(root)]
    files = tree_files(root)
    check_mincore(max((p for p in files if p not in betas), key=lambda p: p.stat().st_size))
    shape = tuple(int(n) for n in nib.load(betas[0]).shape)
    n_sessions = len(betas) // 2
    print(
        f"# {n_sessions} session(s): {len(betas)} files of {shape} >f4, "
        f"{betas[0].stat().st_size / MB:.1f} MB each; {len(every)} vertices ("
        + ", ".join(f"{r} {len(u)}" for r, u in units.items())
        + f"); labels {args.labels}; {ids.size} images",
        flush=True,
    )
    call = (space, design, 1, REGIONS, ids)
    log = extraction.ReadLog()
    ours_cold, result = cold(files, extraction.extract_subject, *call, log=log)
    pages = [resident_pages(path) for path in betas]
    line("nsdval extract_subject, cold", ours_cold, f"{log.bytes_read / MB:.1f} MB of values")
    print(f"# cross-check {betas[0].name}: fincore {fincore(betas[0])}", flush=True)
    evicted = Evictor(betas)
    extraction.READ_AHEAD = False  # a read ahead would be evicted while in flight
    ours_evicted, _ = cold(files, extraction.extract_subject, *call, progress=evicted)
    extraction.READ_AHEAD = True
    line("nsdval, cold, files evicted after each read", ours_evicted, f"{evicted.reads} reads")
    ours_warm, ours_cpu = best_times(extraction.extract_subject, *call, repeats=args.repeats)
    line(
        f"nsdval extract_subject, warm (best of {args.repeats})",
        ours_warm,
        f"CPU {ours_cpu:.2f} s",
    )

    reads_ours, _ = best_times(nsdval_reads, space, every, repeats=args.repeats)
    line("nsdval, reading only (read_stored), warm", reads_ours)
    reads_theirs, _ = best_times(notebook_reads, root, REGIONS)
    line("notebook, reading only (get_fdata per region), warm", reads_theirs)
    once_cold, notebook = cold(files, notebook_pass, root, REGIONS, ids)
    line("notebook, read whole once for four, cold", once_cold)
    compare_values(result, notebook)
    once_warm, once_cpu = best_times(notebook_pass, root, REGIONS, ids, repeats=args.repeats)
    line("notebook, read whole once for four, warm", once_warm, f"CPU {once_cpu:.2f} s")
    per_cold, per_region = cold(files, notebook_per_region, root, ids)
    line("notebook, per region (four passes), cold", per_cold)
    compare_values(result, per_region)
    per_evicted, _ = best_times(notebook_per_region, root, ids, lambda: drop_cache(files))
    line("notebook, per region, cold before each pass", per_evicted)
    per_warm, per_cpu = best_times(notebook_per_region, root, ids)
    line("notebook, per region (four passes), warm", per_warm, f"CPU {per_cpu:.2f} s")

    print(f"# ---- summary: {n_sessions} session(s), labels {args.labels}")
    for label, ours, base, name in (
        ("warm, vs the notebook per region", ours_warm, per_warm, "notebook"),
        ("warm, vs read whole once", ours_warm, once_warm, "once"),
        ("cold, vs the notebook per region", ours_cold, per_cold, "notebook"),
        ("cold, vs read whole once", ours_cold, once_cold, "once"),
        ("evicted, vs the notebook cold per pass", ours_evicted, per_evicted, "notebook"),
    ):
        compare(label, ours, base, name, "s")
    compare("CPU, warm, vs the notebook per region", ours_cpu, per_cpu, "notebook", "s")
    compare("reads only, warm, vs get_fdata per region", reads_ours, reads_theirs, "notebook", "s")
    speed = per_warm / ours_warm
    verdict = "meets" if speed >= SPEED_TARGET else "MISSES"
    ratio_line("speed, warm, notebook per region / nsdval", speed, f"{verdict} the >= 10x target")
    bytes_report(betas, pages, every, evicted)


if __name__ == "__main__":
    main()
