"""What each ``nsdval`` subcommand does: call one library function, print, return the exit code.

Exit codes: 0 every check passed; 1 a check failed or a report errored (reports are still
written); 2 unusable input or a usage error (``main`` returns it for nsdval's errors).
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from functools import partial
from pathlib import Path

import nsdval
from nsdval.cli.environment import share_cores, user_cache_folder, warm_kernels_wanted

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def print_progress(record, done, total, *, unchanged=False):
    """One line per report: position, status, scope, template, seconds (or "unchanged").

    The scope names the family of a report outside the volume 8-subject one.
    """
    family = None if record.family == "volume_8subj" else record.family
    scope = " ".join(p for p in (family, record.subject, record.region) if p) or "run"
    took = "unchanged" if unchanged else f"{record.seconds:6.1f} s"
    print(
        f"[{done:>{len(str(total))}}/{total}] {record.status:<5} {scope:<10} "
        f"{record.template:<20} {took}",
        flush=True,
    )


def _summarise(results, out):
    reports = results["reports"]
    counts = {s: sum(r.status == s for r in reports) for s in ("pass", "warn", "fail", "error")}
    text = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    print(f"{len(reports)} reports: {text}")
    for record in reports:
        bad = [c["name"] for c in record.checks if c["status"] == "fail"]
        if record.status == "error":
            err = record.error or {}
            print(f"  error {record.id}: {err.get('ename')}: {err.get('evalue')}")
        elif bad:
            print(f"  fail  {record.id}: {', '.join(bad)}")
    print(f"Index: {Path(out).resolve() / 'index.html'}")
    return EXIT_OK if results["status"] == "pass" else EXIT_FAIL


def cmd_run(args):
    """``nsdval run``."""
    from nsdval.run import cluster, executors, plan, runner

    executors.check_choice(args.executor, args.scheduler)
    if args.executor == "dask":
        cluster.check_scheduler(args.scheduler)  # unreachable: exit 2, OUT untouched
    share_cores(args.jobs)
    config = plan.RunConfig(
        nsd_root=args.nsd_root,
        out=args.out,
        subjects=args.subjects,
        regions=args.regions,
        jobs=args.jobs,
        executor=args.executor,
        scheduler=args.scheduler,
        parameters=dict(args.parameters),
        spaces=args.space,
        variants=args.variant,
        templates=tuple(plan.REPORT_KINDS[kind] for kind in args.reports),
        folders={
            f"{n}_dir": getattr(args, f"{n}_dir")
            for n in ("assemblies", "brainscore", "benchmark")
        },
        notebooks_dir=args.notebooks or plan.default_notebooks_dir(),
        timeout=args.timeout,
        cache=args.cache,
        force=args.force,
        compare_with=args.compare_with,
        command=shlex.join(["nsdval", *args.argv]),
        read_timeout=args.read_timeout,
        hash_mode=args.hash_mode,
        warm_kernels=warm_kernels_wanted(),
    )
    results = runner.run_reports(
        config, on_report=print_progress, on_progress=_progress_printer(args)
    )
    return _summarise(results, args.out)


def _hash_progress(args):
    printer = _progress_printer(args)
    return None if printer is None else partial(printer, None)


def _progress_printer(args):
    from nsdval.run.progress import ProgressPrinter

    return None if args.quiet else ProgressPrinter()


def default_demo_data(preset):
    """Cache folder of the synthetic tree used by ``nsdval demo``."""
    return user_cache_folder() / "nsdval" / f"synth-{preset}-v{nsdval.__version__}-seed0"


DEMO_FAMILIES = {"space": "all", "variant": "both"}
"""The demo tree holds the four families (volume and surface, 8 and 4 subjects)."""


def demo_tree_is_current(data, preset):
    """Whether ``data`` holds the synthetic demo tree this nsdval would write (else redo it).

    A tree of an earlier nsdval (one family only), or a faulty one, is written again.
    """
    path = Path(data) / "synth.json"
    if not path.is_file():
        return False
    try:
        about = json.loads(path.read_text())
    except ValueError:
        return False
    wanted = {"preset": preset, "spaces": ["volume", "surface"], "variants": ["8subj", "4subj"]}
    return all(about.get(key) == value for key, value in wanted.items()) and not about.get("fault")


def cmd_demo(args):
    """``nsdval demo``: synthesize (cached) and run every report."""
    from nsdval import synth
    from nsdval.run import plan, runner

    share_cores(args.jobs)
    data = args.data or default_demo_data(args.preset)
    if demo_tree_is_current(data, args.preset):
        print(f"Reusing the synthetic tree in {data}", flush=True)
    else:
        if (data / "synth.json").is_file():  # an earlier nsdval's synthetic tree: replaced
            shutil.rmtree(data)
        print(f"Synthesizing the {args.preset} tree of every family in {data} ...", flush=True)
        synth.synthesize(data, preset=args.preset, seed=0, **DEMO_FAMILIES)
    config = plan.RunConfig(
        nsd_root=data,
        out=args.out,
        jobs=args.jobs,
        command=shlex.join(["nsdval", *args.argv]),
        warm_kernels=warm_kernels_wanted(),
    )
    results = runner.run_reports(
        config, on_report=print_progress, on_progress=_progress_printer(args)
    )
    return _summarise(results, args.out)


def cmd_rerun(args):
    """``nsdval rerun``."""
    from nsdval.run import runner

    record = runner.rerun_report(
        args.path, dict(args.parameters), timeout=args.timeout, warm_kernels=warm_kernels_wanted()
    )
    print(f"{record.status:<5} {record.id} {record.seconds:.1f} s")
    root = runner.find_run_root(args.path)
    print(f"Index: {root / 'index.html'}")
    return EXIT_OK if record.status in ("pass", "warn") else EXIT_FAIL


def cmd_synth(args, parser):
    """``nsdval synth``."""
    from nsdval import synth

    if args.list_faults:
        every = {**synth.FAULTS, **synth.RDM_FAULTS, **synth.SURFACE_FAULTS}
        if args.variant not in (None, "8subj", "_8subj"):  # the 4-subject faults on request
            every.update(synth.VARIANT_FAULTS)
        width = max(len(name) for name in every)
        for name, description in every.items():
            print(f"{name:<{width}}  {description}")
        return EXIT_OK
    if args.dir is None:
        parser.error("synth: DIR is required unless --list-faults is given")
    chosen = {name: getattr(args, name) for name in ("space", "layout", "variant")}
    path = synth.synthesize(
        args.dir,
        preset=args.preset,
        seed=args.seed,
        fault=args.fault,
        sessions=args.sessions,
        **{name: value for name, value in chosen.items() if value is not None},
    )
    print(path.resolve())
    return EXIT_OK


def cmd_index(args):
    """``nsdval index``: rebuild the index page from results.json and manifest.json."""
    from nsdval.analysis.record import read_results
    from nsdval.run import runner

    out = Path(args.out)
    results = read_results(out)
    manifest_path = out / "manifest.json"
    run_manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    runner.write_run_outputs(out, results, run_manifest)
    print(out.resolve() / "index.html")
    return EXIT_OK


def cmd_archive(args):
    """``nsdval archive``: write ``nsdval-TAG.tar.gz`` of a finished run."""
    from nsdval.release import archive

    path = archive.create_archive(
        args.run_dir,
        release=args.release,
        out_dir=args.out,
        hash_mode=args.hash_mode,
        nsd_root=args.nsd_root,
        workers=args.jobs,
        overwrite=args.overwrite,
        on_progress=_hash_progress(args),
    )
    print(path.resolve())
    return EXIT_OK


def cmd_verify(args):
    """``nsdval verify``: recompute every checksum; exit 1 naming each mismatch."""
    from nsdval.release import verify

    report = verify.verify(args.path, nsd_root=args.nsd_root, workers=args.jobs)
    for problem in report["problems"]:
        where = "input " if problem["where"] == "nsd-root" else ""
        print(f"{problem['problem']:<8} {where}{problem['path']}: {problem['detail']}")
    checked = f"{report['files']} files"
    if report["inputs"] is not None:
        checked += f" and {report['inputs']} input files"
    if report["problems"]:
        print(f"FAILED: {len(report['problems'])} problem(s) in {checked} of {report['top']}")
        return EXIT_FAIL
    print(f"OK: {checked} of {report['top']} match their checksums")
    return EXIT_OK


def cmd_compare(args):
    """``nsdval compare``: print the differences, write the page; exit 1 on a regression."""
    from nsdval.atomic import write_text
    from nsdval.pages.comparison import render_compare
    from nsdval.release import compare, verify

    comparison = compare.compare_runs(
        verify.load_run(args.a), verify.load_run(args.b), atol=args.atol, rtol=args.rtol
    )
    for line in compare.summary_lines(comparison):
        print(line)
    page = args.html or default_compare_html(args.b)
    write_text(page, render_compare(comparison=comparison))
    print(f"Comparison: {page.resolve()}")
    return EXIT_FAIL if comparison["regressions"] else EXIT_OK


def cmd_export_benchmark(args):
    """``nsdval export-benchmark``: write a Brain-Score run's activations and scores."""
    from nsdval.analysis import export

    result = export.export_benchmark(
        benchmark=args.benchmark,
        model=args.model,
        out_dir=args.out,
        overwrite=args.overwrite,
        rdm=args.rdm,
    )
    for path in result["files"]:
        print(path.resolve())
    for key in ("score", "score_rdm"):
        score = result.get(key)
        if score is None:
            continue
        bound = score.get("lower_bound_loo")
        print(
            f"{score['benchmark']} {score['model']}: score {score['score']:.4f}, "
            f"raw {score['raw']:.4f}, ceiling {score['ceiling']:.4f}"
            + ("" if bound is None else f", leave-one-out bound {bound:.4f}")
        )
    difference = result.get("rdm_activation_difference")
    if difference is not None and not difference <= export.ACTIVATION_TOLERANCE:
        print(
            "nsdval: warning: the -rdm benchmark saw other features than the activation "
            f"files hold (largest relative difference {difference:.3g}; inf: another number "
            "of features), so score_rdm.json may not be reproducible from them",
            file=sys.stderr,
        )
    return EXIT_OK


def default_compare_html(b):
    """``B/compare.html`` for a run folder; ``./compare.html`` for an archive or extracted one.

    An extracted archive is left alone: a file added there would fail ``nsdval verify``.
    """
    b = Path(b)
    if b.is_dir() and not (b / "SHA256SUMS").exists():
        return b / "compare.html"
    return Path("compare.html")
