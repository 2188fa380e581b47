"""Four regions of a subject in one pass vs one region, and vs four seed-style passes.

On a ``full`` preset tree (one subject at subj01's real size, betas chunked per voxel as NSD
ships them), times ``nsdval.analysis.extraction.extract_subject`` for V1, V2, V4 and IT together,
``extract_region`` for each region alone, and the seed notebook's section-2 loop (every
session read whole with ``betas[:]``, masked and z-scored) once per region. The images are
those shown three times within the subject's sessions. nsdval's session z-scores must equal
the seed's (float32) within 1e-5.

    python benchmarks/bench_regions.py                  # 1 session, generated in /tmp
    python benchmarks/bench_regions.py --sessions 4     # 4 sessions (~4.4 GB in /tmp)
    python benchmarks/bench_regions.py --tree DIR --sessions 4   # reuse a full tree
    python benchmarks/bench_regions.py --layout per-trial   # sessions chunked per trial volume

With ``--layout per-trial`` or ``contiguous`` the session files are rewritten with that
storage first (same values), to show how the cost of a pass depends on the file layout.
"""

import argparse

import numpy as np
from common import (
    add_tree_options,
    best_of,
    full_tree,
    header,
    parse_args,
    relayout,
    row,
    seed_bypass,
)

from nsdval.analysis import extraction
from nsdval.data.expdesign import load_expdesign
from nsdval.data.layout import detect_layout
from nsdval.data.spaces import open_space

REGIONS = ("V1", "V2", "V4", "IT")


def nsdval_times(root, repeats):
    """Seconds of the four-region pass and of each single-region pass; the extractions."""
    space = open_space(detect_layout(root))
    design = load_expdesign(space.layout.expdesign())
    ids = extraction.reference_images(space, design, [1])
    times, result = {}, {}
    times["all"], result = best_of(
        extraction.extract_subject, space, design, 1, REGIONS, ids, repeats=repeats
    )
    for region in REGIONS:
        times[region], _ = best_of(
            extraction.extract_region, space, design, 1, region, ids, repeats=repeats
        )
    return times, result, ids


def seed_times(root, ids, regions, extractions):
    """Seconds of one seed-style pass per region, checked against nsdval's z-scores."""
    times = {}
    for region in regions:
        seconds, per_rep = best_of(seed_bypass, root, 1, region, ids, repeats=1)
        ours = np.moveaxis(extractions[region].session_z, 0, 1)
        assert np.allclose(per_rep, ours, atol=1e-5), f"{region}: seed and nsdval differ"
        times[region] = seconds
        print(f"# seed-style pass {region}: {seconds:.1f} s", flush=True)
    return times


def report(times, seed, sessions):
    voxels = sum(times["voxels"].values())
    print(f"# {sessions} session(s), {voxels} voxels in all, {times['images']} images")
    all_regions = times["all"]
    for region in REGIONS:
        n = times["voxels"][region]
        ratio = all_regions / times[region]
        print(
            f"{region + ' alone':<42} nsdval {times[region]:9.4f} s   ({n} voxels); "
            f"four regions / {region} = {ratio:.2f}x"
        )
    singles = sum(times[r] for r in REGIONS)
    print(
        f"{'sum of the four single-region passes':<42} nsdval {singles:9.4f} s   "
        f"four regions in one pass / sum = {all_regions / singles:.2f}x"
    )
    seed_total = sum(seed.values()) * len(REGIONS) / len(seed)
    label = "four regions vs four seed passes"
    if len(seed) < len(REGIONS):
        label += f" (x{len(REGIONS) / len(seed):.0f} of {len(seed)} measured)"
    row(label, all_regions, seed_total, "seed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_tree_options(parser)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many nsdval runs")
    parser.add_argument(
        "--seed-regions",
        default=",".join(REGIONS),
        help="regions to run the seed's loop for (each costs a full read of every session)",
    )
    args = parse_args(parser, {"sessions": 4})
    header("bench_regions: four regions in one pass vs one region vs four seed passes")
    with full_tree(args.sessions, args.tree) as root:
        relayout(root, args.layout)
        print(f"# session files: {args.layout} storage", flush=True)
        times, extractions, ids = nsdval_times(root, args.repeats)
        times["voxels"] = {r: len(extractions[r].coords) for r in REGIONS}
        times["images"] = len(ids)
        seed = seed_times(root, ids, args.seed_regions.split(","), extractions)
        report(times, seed, args.sessions)


if __name__ == "__main__":
    main()
