"""The ``nsdval`` command line: parse arguments, call one library function, map exit codes.

Exit codes: 0 every check passed; 1 a check failed or a report errored (reports are still
written); 2 unusable input or a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import warnings
from functools import partial
from pathlib import Path

import nsdval
from nsdval.data.layout import DEFAULT_VARIANT, REGIONS
from nsdval.errors import NsdvalError, one_line

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
WARM_KERNELS_ENV = "NSDVAL_WARM_KERNELS"
OFF = ("0", "false", "no", "off")
ENVIRONMENT = (
    f"environment: {WARM_KERNELS_ENV}=0 (or false, no, off) starts each notebook's kernel "
    "the plain way instead of forking it from a process that has the templates' imports done"
)


def warm_kernels_wanted():
    """Whether notebooks' kernels are forked warm: ``NSDVAL_WARM_KERNELS`` unset or not off.

    The one place nsdval reads its environment; the setting travels down in
    :class:`~nsdval.run.plan.RunConfig` (or as an argument) to the executors.
    """
    return os.environ.get(WARM_KERNELS_ENV, "1").strip().lower() not in OFF


def parse_subjects(text):
    """Parse ``1-8``, ``1,3`` or ``2`` into a tuple of subject numbers.

    Examples
    --------
    >>> parse_subjects("1-3,5")
    (1, 2, 3, 5)
    """
    out = []
    for part in text.split(","):
        part = part.strip()
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise argparse.ArgumentTypeError(f"subjects: expected e.g. 1-8 or 1,3, got {text!r}")
        out.extend(range(int(low), int(high or low) + 1))
    return tuple(sorted(set(out)))


def parse_regions(text):
    """Parse ``V1,V4`` into a tuple of regions, refusing unknown names."""
    regions = tuple(r.strip() for r in text.split(",") if r.strip())
    unknown = [r for r in regions if r not in REGIONS]
    if unknown or not regions:
        raise argparse.ArgumentTypeError(
            f"regions: expected a comma list of {', '.join(REGIONS)}, got {text!r}"
        )
    return regions


def parse_parameter(text):
    """Parse ``name=value``; the value as JSON (numbers, true/false) or else a string.

    Examples
    --------
    >>> parse_parameter("tolerance=1e-6")
    ('tolerance', 1e-06)
    >>> parse_parameter("variant=_8subj")
    ('variant', '_8subj')
    """
    name, sep, value = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"-p: expected name=value, got {text!r}")
    literals = {"True": True, "False": False}
    if value in literals:
        return name.strip(), literals[value]
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    if not isinstance(parsed, (int, float, bool, str)):
        parsed = value
    return name.strip(), parsed


def _jobs(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--jobs: expected a positive integer, got {text!r}")
    return int(text)


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _add_parameter_options(parser):
    parser.add_argument(
        "-p",
        "--parameter",
        dest="parameters",
        action="append",
        default=[],
        type=parse_parameter,
        metavar="NAME=VALUE",
        help="template parameter override (repeatable)",
    )
    parser.add_argument("--timeout", type=float, default=None, help="seconds a cell may run")


def _add_run_options(parser):
    parser.add_argument("--out", required=True, type=Path, help="output folder of the run")
    parser.add_argument(
        "--subjects",
        type=parse_subjects,
        default=None,
        help="subjects, e.g. 1-8 or 1,3 (default: all in the tree)",
    )
    parser.add_argument(
        "--regions",
        type=parse_regions,
        default=REGIONS,
        help="regions, e.g. V1,V4 (default: V1,V2,V4,IT)",
    )
    parser.add_argument("--jobs", type=_jobs, default=1, help="notebooks executed at once")
    parser.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="where the notebooks run: this machine's process pool (default) or a "
        "dask.distributed cluster (needs --scheduler; OUT and the NSD root must be on a "
        "filesystem the workers share)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="dask scheduler address, e.g. tcp://HOST:8786; local or local:N starts a "
        "local cluster of --jobs (or N) worker processes",
    )
    _add_parameter_options(parser)
    parser.add_argument(
        "--force",
        action="store_true",
        help="execute every report, even those an earlier run into OUT left current",
    )
    parser.add_argument(
        "--compare-with",
        type=Path,
        default=None,
        metavar="ARCHIVE",
        help="compare the run with a previous release's archive; the index links to it",
    )
    parser.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        help="let every report read the raw betas itself instead of one extraction pass "
        "per subject, cached in OUT/.cache",
    )
    parser.add_argument(
        "--notebooks",
        type=Path,
        default=None,
        help="folder of the template notebooks (default: the shipped ones)",
    )
    _add_read_options(parser)


def _add_read_options(parser):
    from nsdval.data.watched import DEFAULT_TIMEOUT
    from nsdval.release.manifest import DEFAULT_HASH, HASH_MODES

    parser.add_argument(
        "--hash",
        dest="hash_mode",
        choices=HASH_MODES,
        default=DEFAULT_HASH,
        help="how the manifest describes the inputs: read (default: size, mtime and a "
        "checksum of what nsdval reads; no betas file is read whole), sha256 (every file "
        "hashed whole, with progress; unchanged files keep their hash), size-mtime",
    )
    parser.add_argument(
        "--read-timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"seconds an input file may take to open, or a session to read, before it "
        f"counts as unreadable (exit 2; default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress lines while reading inputs"
    )


def build_parser():
    """The argument parser of ``nsdval``."""
    parser = argparse.ArgumentParser(
        prog="nsdval",
        description="Validate Brain-Score NSD assemblies end to end, from raw HDF5 betas "
        "to benchmark scores, as HTML reports with an index.",
        epilog=ENVIRONMENT,
    )
    parser.add_argument("--version", action="version", version=f"nsdval {nsdval.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run every report on an NSD tree", epilog=ENVIRONMENT)
    run.add_argument("--nsd-root", required=True, type=Path, help="NSD root folder")
    run.add_argument("--variant", default=DEFAULT_VARIANT, help="assembly file suffix")
    for name in ("assemblies", "brainscore", "benchmark"):
        run.add_argument(
            f"--{name}-dir",
            type=Path,
            default=None,
            help=f"folder of the {name} files (default: NSD_ROOT/{name})",
        )
    _add_run_options(run)

    demo = sub.add_parser(
        "demo", help="synthesize the demo tree (cached) and run everything", epilog=ENVIRONMENT
    )
    demo.add_argument("--out", type=Path, default=Path("reports/demo"), help="output folder")
    demo.add_argument(
        "--data",
        type=Path,
        default=None,
        help="where the synthetic tree is cached (default: user cache folder)",
    )
    demo.add_argument("--preset", default="demo", help="synthetic preset (default: demo)")
    demo.add_argument("--jobs", type=_jobs, default=max(1, min(os.cpu_count() or 1, 4)))
    demo.add_argument(
        "-q", "--quiet", action="store_true", help="no progress lines while reading inputs"
    )

    rerun = sub.add_parser(
        "rerun", help="re-execute one report with changed parameters", epilog=ENVIRONMENT
    )
    rerun.add_argument("path", type=Path, help="report folder, e.g. OUT/subj01/V4")
    _add_parameter_options(rerun)

    synth = sub.add_parser(
        "synth",
        help="write a synthetic NSD tree",
        description="Write a synthetic NSD tree. tiny and demo are validation trees for "
        "nsdval run; full is a benchmark dataset, not a validation tree: one subject at "
        "subj01's real size (about 1 GB of betas per session, chunked per voxel), its ROI "
        "volumes and design, and V4 activations of the real feature shape (412 x 64896), "
        "without assemblies or score (nsdval run exits 2 on it).",
    )
    synth.add_argument("dir", type=Path, nargs="?", help="folder to create")
    synth.add_argument("--preset", default="tiny", help="tiny, demo or full")
    synth.add_argument(
        "--sessions",
        type=int,
        default=None,
        metavar="N",
        help="sessions to write (full preset only; default 4)",
    )
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--fault", default=None, help="plant one known defect (see --list-faults)")
    synth.add_argument("--list-faults", action="store_true", help="list the faults and exit")

    index = sub.add_parser("index", help="rebuild OUT/index.html from OUT/results.json")
    index.add_argument("out", type=Path)
    _add_release_commands(sub)
    _add_export_command(sub)
    return parser


def _tolerance(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _add_release_commands(sub):
    """The ``archive``, ``verify`` and ``compare`` subcommands."""
    _add_archive_command(sub)
    verify = sub.add_parser("verify", help="check an archive against its SHA256SUMS")
    verify.add_argument("path", type=Path, metavar="ARCHIVE_OR_DIR")
    verify.add_argument(
        "--nsd-root", type=Path, default=None, help="also check the input data files here"
    )
    verify.add_argument("--jobs", type=_jobs, default=4, help="files hashed at once")
    _add_compare_command(sub)


def _add_archive_command(sub):
    from nsdval.release.manifest import HASH_MODES

    archive = sub.add_parser("archive", help="pack a finished run into a release archive")
    archive.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="output folder of a run")
    archive.add_argument("--release", required=True, help="release tag, e.g. v1.2")
    archive.add_argument(
        "--out", type=Path, default=None, help="archive folder (default: the one holding RUN_DIR)"
    )
    archive.add_argument(
        "--hash",
        dest="hash_mode",
        choices=HASH_MODES,
        default="sha256",
        help="input fingerprint: sha256 (default) or size and mtime only",
    )
    archive.add_argument(
        "--nsd-root", type=Path, default=None, help="where the inputs are (default: the run's)"
    )
    archive.add_argument("--jobs", type=_jobs, default=4, help="files hashed at once")
    archive.add_argument("--overwrite", action="store_true", help="replace an existing archive")
    archive.add_argument(
        "-q", "--quiet", action="store_true", help="no progress lines while hashing inputs"
    )


def _add_compare_command(sub):
    compare = sub.add_parser("compare", help="what changed between two runs or archives")
    compare.add_argument("a", type=Path, metavar="A", help="run folder or archive (before)")
    compare.add_argument("b", type=Path, metavar="B", help="run folder or archive (after)")
    compare.add_argument(
        "--atol",
        "--tolerance",
        type=_tolerance,
        default=1e-6,
        help="absolute tolerance for moved numbers (default 1e-6)",
    )
    compare.add_argument(
        "--rtol", type=_tolerance, default=1e-6, help="relative tolerance (default 1e-6)"
    )
    compare.add_argument(
        "--html",
        type=Path,
        default=None,
        help="comparison page (default: B/compare.html for a run folder, else ./compare.html)",
    )


def _add_export_command(sub):
    export = sub.add_parser(
        "export-benchmark",
        help="score a model with Brain-Score; write activations and score.json for nsdval",
        description="Inside the Brain-Score environment: score MODEL on BENCHMARK with "
        "brainscore_vision and write OUT/REGION/activations_{train,test}.nc and score.json, "
        "the files nsdval run reads from --benchmark-dir.",
    )
    export.add_argument("--benchmark", required=True, help="e.g. Allen2022_fmri.V4-ridge")
    export.add_argument("--model", required=True, help="a Brain-Score model identifier")
    export.add_argument("--out", required=True, type=Path, help="benchmark folder to write")
    export.add_argument("--overwrite", action="store_true", help="replace existing files")


def print_progress(record, done, total, *, unchanged=False):
    """One line per report: position, status, scope, template, seconds (or "unchanged")."""
    scope = " ".join(p for p in (record.subject, record.region) if p) or "run"
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
    config = plan.RunConfig(
        nsd_root=args.nsd_root,
        out=args.out,
        subjects=args.subjects,
        regions=args.regions,
        jobs=args.jobs,
        executor=args.executor,
        scheduler=args.scheduler,
        parameters=dict(args.parameters),
        variant=args.variant,
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
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "nsdval" / f"synth-{preset}-v{nsdval.__version__}-seed0"


def cmd_demo(args):
    """``nsdval demo``: synthesize (cached) and run every report."""
    from nsdval import synth
    from nsdval.run import plan, runner

    data = args.data or default_demo_data(args.preset)
    if not (data / "synth.json").is_file():
        print(f"Synthesizing the {args.preset} tree in {data} ...", flush=True)
        synth.synthesize(data, preset=args.preset, seed=0)
    else:
        print(f"Reusing the synthetic tree in {data}", flush=True)
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
        width = max(len(name) for name in synth.FAULTS)
        for name, description in synth.FAULTS.items():
            print(f"{name:<{width}}  {description}")
        return EXIT_OK
    if args.dir is None:
        parser.error("synth: DIR is required unless --list-faults is given")
    path = synth.synthesize(
        args.dir, preset=args.preset, seed=args.seed, fault=args.fault, sessions=args.sessions
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
    """``nsdval export-benchmark``: write a Brain-Score run's activations and score."""
    from nsdval.analysis import export

    result = export.export_benchmark(
        benchmark=args.benchmark, model=args.model, out_dir=args.out, overwrite=args.overwrite
    )
    for path in result["files"]:
        print(path.resolve())
    score = result["score"]
    print(
        f"{score['benchmark']} {score['model']}: score {score['score']:.4f}, "
        f"raw {score['raw']:.4f}, ceiling {score['ceiling']:.4f}"
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


def quiet_libraries():
    """Keep library warnings and finalizer errors off the terminal (``--debug`` shows them).

    A damaged input file can make a library warn, or fail in a finalizer ("Exception
    ignored in ..."), long after nsdval has turned the problem into its one-line error.
    """
    warnings.simplefilter("ignore")
    sys.unraisablehook = lambda unraisable: None


INTERRUPTED = {
    "run": "nsdval: interrupted: finished reports are kept and the previous index.html and "
    "results.json are unchanged; run the same command again to complete the others",
}
INTERRUPTED["demo"] = INTERRUPTED["run"]


def main(argv=None):
    """Entry point of the ``nsdval`` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    commands = {"run": cmd_run, "demo": cmd_demo, "rerun": cmd_rerun, "index": cmd_index}
    commands.update(archive=cmd_archive, verify=cmd_verify, compare=cmd_compare)
    commands["export-benchmark"] = cmd_export_benchmark
    if not args.debug:
        quiet_libraries()
    try:
        if args.command == "synth":
            return cmd_synth(args, parser)
        return commands[args.command](args)
    except (NsdvalError, FileNotFoundError, NotADirectoryError) as exc:
        if args.debug:
            raise
        print(f"nsdval: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(INTERRUPTED.get(args.command, "nsdval: interrupted"), file=sys.stderr)
        return 130
