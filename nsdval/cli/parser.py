"""The parser of ``nsdval``: its subcommands and options (types in :mod:`nsdval.cli.types`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import nsdval
from nsdval.cli.environment import HELP as ENVIRONMENT
from nsdval.cli.types import (
    REPORT_KINDS,
    _jobs,
    _seconds,
    _tolerance,
    parse_parameter,
    parse_regions,
    parse_reports,
    parse_spaces,
    parse_subjects,
    parse_variants,
)
from nsdval.data.layout import REGIONS


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
    _add_run_command(sub)
    _add_demo_command(sub)
    _add_rerun_command(sub)
    _add_synth_command(sub)
    index = sub.add_parser("index", help="rebuild OUT/index.html from OUT/results.json")
    index.add_argument("out", type=Path)
    _add_release_commands(sub)
    _add_export_command(sub)
    return parser


def _add_run_command(sub):
    """The ``run`` subcommand: every report on an NSD tree."""
    run = sub.add_parser("run", help="run every report on an NSD tree", epilog=ENVIRONMENT)
    run.add_argument("--nsd-root", required=True, type=Path, help="NSD root folder")
    run.add_argument(
        "--space",
        type=parse_spaces,
        default=None,
        metavar="SPACE",
        help="assembly families to validate, by space: volume (Allen2022_fmri, from the "
        "HDF5 betas), surface (Allen2022_fmri_surface, from the fsaverage MGH betas), a "
        "comma list, or all (default: every family the tree holds)",
    )
    run.add_argument(
        "--variant",
        type=parse_variants,
        default=None,
        metavar="VARIANT",
        help="assembly families to validate, by file suffix: _8subj (515 images), _4subj "
        "(subjects 1, 2, 5, 7; 1000 images), a comma list, or all (default: every family "
        "the tree holds). Reports of the volume _8subj family sit in OUT/subjSS/REGION, "
        "those of another family in OUT/SPACE_VARIANT/subjSS/REGION",
    )
    for name in ("assemblies", "brainscore", "benchmark"):
        run.add_argument(
            f"--{name}-dir",
            type=Path,
            default=None,
            help=f"folder of the {name} files (default: NSD_ROOT/{name})",
        )
    _add_run_options(run)


def _add_demo_command(sub):
    """The ``demo`` subcommand: the synthetic demo tree, synthesized and run."""
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


def _add_rerun_command(sub):
    """The ``rerun`` subcommand: one report again, with changed parameters."""
    rerun = sub.add_parser(
        "rerun", help="re-execute one report with changed parameters", epilog=ENVIRONMENT
    )
    rerun.add_argument("path", type=Path, help="report folder, e.g. OUT/subj01/V4")
    _add_parameter_options(rerun)


def _add_synth_command(sub):
    """The ``synth`` subcommand: a synthetic NSD tree written."""
    synth = sub.add_parser(
        "synth",
        help="write a synthetic NSD tree",
        description="Write a synthetic NSD tree. tiny and demo are validation trees for "
        "nsdval run (each benchmark folder holds score.json and score_rdm.json, the -ridge "
        "and -rdm scores of the generator's own scorers); full is a timing dataset, not a "
        "validation tree: one subject at "
        "subj01's real size (about 1 GB of betas per session, chunked per voxel), its ROI "
        "volumes and design, and V4 activations of the real feature shape (412 x 64896), "
        "without assemblies or score (nsdval run exits 2 on it). --space surface writes the "
        "fsaverage family instead (MGH betas, fsaverage labels, Allen2022_fmri_surface "
        "assemblies; with full, subj01's real-size MGH betas and labels only); "
        "--space all writes both.",
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
    synth.add_argument(
        "--space",
        default=None,
        metavar="SPACE",
        help="volume (default), surface, or all (= volume,surface)",
    )
    synth.add_argument(
        "--layout",
        default=None,
        choices=("packaging", "official"),
        help="where NSD's own files go (default: packaging)",
    )
    synth.add_argument(
        "--variant",
        default=None,
        metavar="VARIANT",
        help="8subj (default), 4subj or both: which packaged files to write; 4subj needs "
        "subjects 1, 2, 5 and 7 (--preset demo)",
    )
    synth.add_argument("--fault", default=None, help="plant one known defect (see --list-faults)")
    synth.add_argument("--list-faults", action="store_true", help="list the faults and exit")


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
    parser.add_argument(
        "--reports",
        type=parse_reports,
        default=REPORT_KINDS,
        metavar="KINDS",
        help="kinds of report per family, a comma list of structure (once), validation (per "
        "subject and region), rdm (per region, the REGION-rdm benchmark); default: all",
    )
    _add_executor_options(parser)
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


def _add_executor_options(parser):
    """Where and how many notebooks run at once."""
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
        help="score a model with Brain-Score; write activations, score.json and score_rdm.json",
        description="In the Brain-Score environment: score MODEL with brainscore_vision on "
        "FAMILY.REGION-ridge and FAMILY.REGION-rdm; write OUT/REGION/activations_{train,test}.nc,"
        " score.json (ridge) and score_rdm.json (rdm: score, raw, ceiling, lower_bound_loo, "
        "each subject's raw), read by nsdval run --benchmark-dir. The -rdm benchmark sees the "
        "images of the two activation files; all is scored before anything is written.",
    )
    export.add_argument(
        "--benchmark",
        required=True,
        help="FAMILY.REGION-ridge or FAMILY.REGION-rdm (the other one is derived), e.g. "
        "Allen2022_fmri.V4-ridge, Allen2022_fmri_surface_4subj.IT-rdm",
    )
    export.add_argument("--model", required=True, help="a Brain-Score model identifier")
    export.add_argument("--out", required=True, type=Path, help="benchmark folder to write")
    export.add_argument("--overwrite", action="store_true", help="replace existing files")
    export.add_argument(
        "--no-rdm",
        dest="rdm",
        action="store_false",
        help="score the ridge benchmark only; no score_rdm.json (with --overwrite, one left "
        "by an earlier export is removed: it would not describe the new activations)",
    )
