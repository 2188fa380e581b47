"""A run: its planned reports executed, and its results, manifest and index written.

:func:`run_reports` plans the jobs (:mod:`nsdval.run.plan`), checks and extracts the inputs
(:mod:`nsdval.run.inputs`), executes the reports an earlier run into the same folder did
not leave current on an executor (:mod:`nsdval.run.execution` runs each one), and writes
``results.json``, ``manifest.json`` and ``index.html``. A job that fails never stops the
batch: its record says ``error`` and names the failing cell.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import nsdval
from nsdval import atomic
from nsdval.analysis import checks
from nsdval.analysis.record import (
    DEFAULT_FAMILY,
    SCHEMA_VERSION,
    read_results,
    results_to_json,
)
from nsdval.data.preflight import check_report_inputs
from nsdval.errors import MissingInputError, OutputError
from nsdval.pages.comparison import render_compare
from nsdval.pages.index import render_index
from nsdval.release import compare, manifest, verify
from nsdval.run import executors, incremental, pool
from nsdval.run.cluster import DaskExecutor
from nsdval.run.execution import execute_job, failed_job, template_path
from nsdval.run.inputs import (
    check_readable,
    describe_run_inputs,
    extract_subjects,
    extraction_groups,
)
from nsdval.run.plan import (
    CACHE_DIR,
    STRUCTURE,
    Job,
    check_overrides,
    declared_parameters,
    default_notebooks_dir,
    family_regions,
    plan_run,
    resolve_run,
)

COMPARE_PAGE = "compare.html"


def run_reports(config, *, on_report=None, on_progress=None):
    """Execute every report of a run and write the run's results, manifest and index.

    Every input the reports need is read before OUT is created or changed: the
    pre-flight and the extraction pass run in watched child processes, and an input that
    cannot be read stops the run with an :class:`~nsdval.errors.InputError`.

    Parameters
    ----------
    config : RunConfig
        The run.
    on_report : callable or None
        Called as ``on_report(record, done, total, unchanged=...)`` for each finished
        report (a :class:`~nsdval.analysis.record.ReportRecord`), in completion order;
        ``unchanged`` is true for a report an earlier run left current.
    on_progress : callable or None
        Called as ``on_progress(subject_label, info)`` while the extraction pass reads,
        and as ``on_progress(None, info)`` while whole input files are hashed (see
        :mod:`nsdval.run.progress`).

    Returns
    -------
    dict
        The run's ``results.json`` content, its ``reports`` as records.
    """
    started = time.perf_counter()
    runs, declared = resolve_run(config)
    out = check_out(config.out)
    executor = executor_for(config)
    executor.warm_up()  # what the workers need starts while the inputs are checked
    for run in runs:  # unreadable input: exit 2, OUT untouched
        check_readable(run.layout, run.subjects, config)
    previous = {} if config.force else incremental.previous_records(out)
    jobs, todo, kept = plan_run(config, runs, declared, out=out, previous=previous)
    with executor:
        executed = execute_plan(
            todo,
            kept,
            runs=runs,
            out=out,
            config=config,
            executor=executor,
            total=len(jobs),
            on_report=on_report,
            on_progress=on_progress,
        )
    fresh = {r.id: r for r in executed}
    records = incremental.merge(jobs, {**kept, **fresh}, previous)
    regions = {run.family.key: family_regions(config, run.family, previous) for run in runs}
    inputs = describe_run_inputs(runs, regions, config=config, out=out, on_progress=on_progress)
    return finish_run(
        out, records, config=config, inputs=inputs, seconds=time.perf_counter() - started
    )


def execute_plan(
    todo, kept, *, runs, out, config, executor, total, on_report=None, on_progress=None
):
    """Extract the inputs of the jobs to execute, create OUT, then report kept and run jobs.

    Each subject of a space is extracted once for every family of that space whose jobs
    need it (:func:`~nsdval.run.inputs.extraction_groups`).

    The records kept from an earlier run are reported first (as ``unchanged``), then each
    executed job's as it finishes; ``total`` counts both.

    Returns
    -------
    list of dict
        The executed jobs' records, in job order.
    """
    for families in extraction_groups(todo, runs):  # a space's subjects read once
        extract_subjects(
            families,
            config=config,
            cache_dir=out / CACHE_DIR,
            executor=executor,
            on_progress=on_progress,
        )
    prepare_out(out)
    for done, record in enumerate(kept.values(), 1):
        _notify(on_report, record, done, total, unchanged=True)
    return execute_jobs(
        todo, out=out, config=config, on_report=on_report, offset=len(kept), executor=executor
    )


def executor_for(config):
    """The executor ``config`` asks for: this machine's pool or a dask cluster (a context)."""
    executors.check_choice(config.executor, config.scheduler)
    if config.executor == "dask":
        return DaskExecutor(
            config.scheduler, local_workers=config.jobs, warm_kernels=config.warm_kernels
        )
    return pool.LocalExecutor(config.jobs, warm_kernels=config.warm_kernels)


def check_out(out):
    """OUT as an absolute path, refusing a path that is a file; nothing is created."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(out, "output path exists and is not a folder")
    return out.resolve()


def prepare_out(out):
    """Create the output folder, refusing a path that is a file."""
    out = check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def execute_jobs(jobs, *, out, config, on_report=None, offset=0, executor=None):
    """Run jobs on ``executor`` (default: the one ``config`` asks for); records in job order.

    ``offset`` reports already counted (kept from an earlier run) in the progress count. A
    job whose worker kept dying, or that raised, gets an ``error`` record and report.
    """
    if executor is None:
        with executor_for(config) as executor:
            return execute_jobs(
                jobs, out=out, config=config, on_report=on_report, offset=offset, executor=executor
            )
    kwargs = {
        "out": str(Path(out).resolve()),
        "notebooks_dir": str(Path(config.notebooks_dir).resolve()),
        "timeout": config.timeout,
    }
    records = {}
    for job, record, error in executor.map_as_completed(execute_job, list(jobs), **kwargs):
        if error is not None:
            record = failed_job(job, error, **kwargs)
        records[job.id] = record
        _notify(on_report, record, offset + len(records), offset + len(jobs))
    return [records[job.id] for job in jobs]


def _notify(callback, record, done, total, *, unchanged=False):
    if callback is not None:
        callback(record, done, total, unchanged=unchanged)


def run_status(records):
    """``error``, ``fail`` or ``pass`` for a whole run (warnings pass)."""
    worst = checks.worst_status(r.status for r in records)
    return "pass" if worst == "warn" else worst


def finish_run(out, records, *, config, inputs, seconds):
    """Write results.json, manifest.json and index.html for a finished run."""
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    families = family_benchmarks(records)
    results = {
        "schema_version": SCHEMA_VERSION,
        "nsdval_version": nsdval.__version__,
        "created": created,
        "nsd_root": str(Path(config.nsd_root).resolve()),
        "status": run_status(records),
        "reports": records,
        "benchmark": families.get(DEFAULT_FAMILY, {}),
        "families": families,
    }
    run_manifest = manifest.build_manifest(
        command=config.command,
        parameters={
            "regions": list(config.regions),
            "families": sorted({r.family for r in records}),
            "overrides": config.parameters,
            "jobs": config.jobs,
        },
        inputs=inputs,
        timings={
            "total_seconds": round(seconds, 2),
            "reports": {r.id: r.seconds for r in records},
        },
        created=created,
    )
    write_run_outputs(out, results, run_manifest)
    if config.compare_with:
        results["comparison"] = compare_with_previous(out, config.compare_with)
        write_run_outputs(out, results, run_manifest)
    return results


def family_benchmarks(records):
    """Family key -> the benchmark summary its structure report carried ({} without one)."""
    found = {}
    for record in records:
        found.setdefault(record.family, {})
        if record.template == STRUCTURE and record.benchmark:
            found[record.family] = record.benchmark
    return found


def compare_with_previous(out, previous):
    """Compare a finished run with an earlier release; write ``OUT/compare.html``."""
    comparison = compare.compare_runs(verify.load_run(previous), verify.load_run(out))
    atomic.write_text(Path(out) / COMPARE_PAGE, render_compare(comparison=comparison))
    return {
        "against": str(previous),
        "html": COMPARE_PAGE,
        "regressions": comparison["regressions"],
        "changed": comparison["changed"],
    }


def write_run_outputs(out, results, run_manifest):
    """Write the run's three top-level files, each atomically (``results``' reports: records)."""
    atomic.write_json(Path(out) / "results.json", results_to_json(results))
    atomic.write_json(Path(out) / "manifest.json", run_manifest)
    atomic.write_text(
        Path(out) / "index.html", render_index(results=results, manifest=run_manifest)
    )


def find_run_root(path):
    """The run folder above a report folder or file (the one holding results.json)."""
    path = Path(path).resolve()
    for folder in [path, *path.parents]:
        candidate = folder / "results.json"
        if candidate.is_file() and "reports" in json.loads(candidate.read_text()):
            return folder
    raise MissingInputError(path, "run results.json in this folder or above")


def rerun_report(path, overrides, *, notebooks_dir=None, timeout=None, warm_kernels=True):
    """Re-execute one report with its recorded parameters plus ``overrides``.

    The report runs in this process, its kernel warm or plain as ``warm_kernels`` says
    (see :class:`RunConfig`).

    Returns
    -------
    record : ReportRecord
        The new report record; the run's results.json and index.html are refreshed.
    """
    root = find_run_root(path)
    results = read_results(root)
    target = Path(path).resolve()
    matches = [r for r in results["reports"] if (root / r.html).parent in (target, target.parent)]
    if not matches:
        raise MissingInputError(target, "report of this run")
    old = matches[0]
    notebooks_dir = Path(notebooks_dir or default_notebooks_dir())
    declared = declared_parameters(template_path(notebooks_dir, old.template))
    check_overrides(overrides, {old.template: declared})
    check_report_inputs(old.parameters)
    job = Job(
        old.id,
        old.template,
        _subject_number(old.subject),
        old.region,
        {**old.parameters, **overrides},
        str(Path(old.html).parent),
        family=old.family,
    )
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with pool.LocalExecutor(1, warm_kernels=warm_kernels) as executor:
        (outcome,) = executor.map_as_completed(
            execute_job,
            [job],
            out=root,
            notebooks_dir=notebooks_dir,
            timeout=timeout,
            rerun={"at": at, "overrides": overrides},
        )
    if outcome.error is not None:
        raise outcome.error
    record = outcome.result
    results["reports"] = [record if r.id == old.id else r for r in results["reports"]]
    results["status"] = run_status(results["reports"])
    run_manifest = (
        json.loads((root / "manifest.json").read_text())
        if (root / "manifest.json").is_file()
        else {}
    )
    write_run_outputs(root, results, run_manifest)
    return record


def _subject_number(label):
    return int(label[4:]) if label else None
