"""Peak memory of a subject's extraction: nsdval's streaming pass vs the seed's session reads.

Each measurement runs in a fresh Python process and reports its peak resident memory
(``VmHWM``): ``nsdval.analysis.extraction.extract_subject`` for V1, V2, V4 and IT of a ``full``
preset tree (subj01's real volume and region sizes, betas chunked per voxel) with 1, 2, ...
sessions (for the most sessions also followed by the runner's cache write), and the seed
notebook's loop (``betas[:]`` of a whole session as float32, then the mask) for V4. The
floor is a process that only imports what the extraction imports.

nsdval runs twice per session count: with the images shown three times within those
sessions (what a real run asks for; their number grows with the sessions), and with one
fixed image set (those of the fewest sessions), which isolates the effect of the sessions.

    python benchmarks/bench_memory.py                       # 1 and 2 sessions (/tmp)
    python benchmarks/bench_memory.py --sessions 2,4        # ~4.4 GB in /tmp
    python benchmarks/bench_memory.py --tree DIR --sessions 2,4
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from common import (
    full_tree,
    header,
    measure_child,
    parse_args,
    peak_rss_mb,
    rss_line,
    seed_bypass,
    session_view,
)

REGIONS = ("V1", "V2", "V4", "IT")


def child(kind, root, fixed_root):
    """Run one measurement in this process; print a JSON line."""
    from nsdval.analysis import cache, extraction
    from nsdval.data.expdesign import load_expdesign
    from nsdval.data.layout import detect_layout
    from nsdval.data.spaces import open_space

    space = open_space(detect_layout(root))
    design = load_expdesign(space.layout.expdesign())
    id_source = open_space(detect_layout(fixed_root)) if fixed_root else space
    ids = extraction.reference_images(id_source, design, [1])
    start = time.perf_counter()
    if kind == "nsdval":
        extraction.extract_subject(space, design, 1, REGIONS, ids)
    elif kind == "cached":
        with tempfile.TemporaryDirectory() as cache_dir:
            cache.extract_subject_cached(space, design, 1, REGIONS, ids, cache_dir)
    elif kind == "seed":
        seed_bypass(Path(root), 1, "V4", ids)
    seconds = time.perf_counter() - start
    print(json.dumps({"peak_mb": peak_rss_mb(), "seconds": seconds, "images": len(ids)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="1,2", help="comma list of session counts")
    parser.add_argument("--tree", type=Path, default=None, help="existing full tree to reuse")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "ROOT"), help=argparse.SUPPRESS)
    parser.add_argument("--fixed", default=None, help=argparse.SUPPRESS)
    args = parse_args(parser, {"sessions": "2,4"})
    if args.child:
        child(*args.child, args.fixed)
        return
    counts = sorted(int(n) for n in args.sessions.split(","))
    header("bench_memory: peak RSS of a subject's extraction (V1, V2, V4, IT), fresh process")
    with full_tree(max(counts), args.tree) as tree:
        views = {n: session_view(tree, n, tree.parent / f"view{n}") for n in counts}
        floor = measure_child(__file__, "imports", views[counts[0]])
        rss_line("imports only (floor)", floor)
        for n in counts:
            rss_line(
                f"nsdval, {n} session(s), their images",
                measure_child(__file__, "nsdval", views[n]),
            )
            fixed = measure_child(__file__, "nsdval", views[n], views[counts[0]])
            rss_line(f"nsdval, {n} session(s), images of {counts[0]}", fixed)
        cached = measure_child(__file__, "cached", views[counts[-1]])
        rss_line(f"nsdval + cache write, {counts[-1]} session(s)", cached)
        seed = measure_child(__file__, "seed", views[counts[0]])
        rss_line(f"seed loop, V4 only, {counts[0]} session(s)", seed)


if __name__ == "__main__":
    main()
