"""A run: its jobs planned, its inputs checked and extracted, its reports executed, its results.

A run expands into jobs (``assembly_layout`` once, ``assembly_validation`` per subject and
region), skips those an earlier run into the same folder left current, fills the extraction
cache, executes the rest on an executor (:mod:`nsdval.run.execution` runs each one), and writes
``results.json``, ``manifest.json`` and ``index.html``. A job that fails never stops the
batch: its record says ``error`` and names the failing cell.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import papermill

import nsdval
from nsdval import atomic, resources
from nsdval.analysis import cache, checks
from nsdval.analysis.record import SCHEMA_VERSION, read_results, results_to_json
from nsdval.data import watched
from nsdval.data.layout import DEFAULT_VARIANT, REGIONS, detect_layout, subject_label
from nsdval.data.preflight import check_inputs_watched, check_report_inputs
from nsdval.errors import MissingInputError, NsdvalError, OutputError, ParameterError
from nsdval.pages.comparison import render_compare
from nsdval.pages.index import render_index
from nsdval.release import compare, manifest, verify
from nsdval.run import executors, incremental, pool
from nsdval.run.cluster import DaskExecutor
from nsdval.run.execution import execute_job, failed_job, template_path

VALIDATION = "assembly_validation"
LAYOUT = "assembly_layout"
RESERVED = (
    "nsd_root",
    "subject",
    "region",
    "regions",
    "variant",
    "results_path",
    "assemblies_dir",
    "brainscore_dir",
    "benchmark_dir",
)
CACHE_DIR = ".cache"
COMPARE_PAGE = "compare.html"


def default_notebooks_dir():
    """The template notebooks shipped beside the package."""
    return resources.shipped("notebooks")


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, decided by the command line.

    Attributes
    ----------
    nsd_root, out : Path
        Input tree and output folder.
    subjects : tuple of int or None
        Subjects to validate; ``None`` means every subject of the tree.
    regions : tuple of str
        Regions to validate.
    jobs : int
        Notebooks executed at once (with ``executor="local"``; with ``scheduler="local"``,
        the workers of the local dask cluster).
    executor : {'local', 'dask'}
        Where the jobs run: this machine's process pool, or a dask.distributed cluster.
    scheduler : str or None
        Address of the dask scheduler (``executor="dask"`` only), e.g.
        ``tcp://10.0.0.1:8786``; ``local`` or ``local:N`` starts a local cluster.
    parameters : dict
        Template parameter overrides (``-p name=value``).
    variant : str
        Assembly file suffix.
    folders : dict
        ``assemblies_dir``, ``brainscore_dir``, ``benchmark_dir`` overrides.
    notebooks_dir : Path
        Folder of the template notebooks.
    timeout : float or None
        Seconds a cell may run.
    cache : bool
        Extract each subject's regions in one pass before the reports and let the reports
        load them from ``OUT/.cache`` instead of reading the raw betas again.
    force : bool
        Execute every planned report even when an earlier run in ``out`` left a current one.
    compare_with : Path or None
        A previous release's archive (or run folder) to compare this run with; the index
        links to the comparison page.
    command : str
        The command line, for the manifest.
    read_timeout : float
        Seconds an input file may take to open, or a session to read, before it counts as
        unreadable (see :mod:`nsdval.data.watched`).
    hash_mode : {'read', 'sha256', 'size-mtime'}
        How the manifest describes the inputs (see :mod:`nsdval.release.manifest`).
    warm_kernels : bool
        Fork each notebook's kernel from a zygote that has the templates' imports done
        (see :mod:`nsdval.run.zygote`); off, every kernel starts the plain way.
    """

    nsd_root: Path
    out: Path
    subjects: tuple | None = None
    regions: tuple = REGIONS
    jobs: int = 1
    executor: str = "local"
    scheduler: str | None = None
    parameters: dict = field(default_factory=dict)
    variant: str = DEFAULT_VARIANT
    folders: dict = field(default_factory=dict)
    notebooks_dir: Path = field(default_factory=default_notebooks_dir)
    timeout: float | None = None
    cache: bool = True
    force: bool = False
    compare_with: Path | None = None
    command: str = ""
    read_timeout: float = watched.DEFAULT_TIMEOUT
    hash_mode: str = manifest.DEFAULT_HASH
    warm_kernels: bool = True


@dataclass(frozen=True)
class Job:
    """One notebook execution.

    ``fingerprint`` (see :mod:`nsdval.run.incremental`) goes into the report's record and
    sidecar, so the reports an interrupted run finished count as current in the next run.
    """

    id: str
    template: str
    subject: int | None
    region: str | None
    parameters: dict
    rel_dir: str
    fingerprint: str | None = None


def declared_parameters(path):
    """Parameters a template declares: name -> papermill's inferred type name."""
    found = papermill.inspect_notebook(str(path))
    if not found:
        raise ParameterError("parameters", f"{path} has no cell tagged 'parameters'")
    return {name: info["inferred_type_name"] for name, info in found.items()}


_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


def check_value_type(name, value, type_name):
    """Raise :class:`ParameterError` unless ``value`` fits the declared type."""
    allowed = _TYPES.get(type_name)
    if allowed is None:
        return
    wrong_bool = isinstance(value, bool) and type_name in ("int", "float")
    if wrong_bool or not isinstance(value, allowed):
        raise ParameterError(name, f"expected {type_name}, got {type(value).__name__} {value!r}")


def check_overrides(overrides, declared_by_template):
    """Refuse overrides that no template declares, that are reserved, or of the wrong type."""
    for name, value in overrides.items():
        if name in RESERVED:
            raise ParameterError(name, "is set by nsdval run itself; use the matching option")
        types = [d[name] for d in declared_by_template.values() if name in d]
        if not types:
            known = sorted({n for d in declared_by_template.values() for n in d} - set(RESERVED))
            raise ParameterError(name, f"unknown; templates declare {', '.join(known)}")
        for type_name in types:
            check_value_type(name, value, type_name)


def resolve_subjects(config, layout):
    """The subjects to validate: the configured ones, else all of the tree."""
    found = layout.subjects()
    if config.subjects is None:
        if not found:
            raise MissingInputError(layout.root, "subject folders with betas")
        return tuple(found)
    for subject in config.subjects:
        if subject not in found:
            raise MissingInputError(layout.subject_betas_dir(subject), "subject betas folder")
    return tuple(config.subjects)


def plan_jobs(config, subjects, declared_by_template, *, layout_regions=None):
    """Expand a run into its jobs: the layout report, then every subject x region."""
    base = {"nsd_root": str(Path(config.nsd_root).resolve()), "variant": config.variant}
    base.update({k: str(Path(v).resolve()) for k, v in config.folders.items() if v})
    layout_params = {**base, "regions": ",".join(layout_regions or config.regions)}
    if config.cache:
        base["cache_dir"] = str(Path(config.out).resolve() / CACHE_DIR)
    jobs = [_job(LAYOUT, None, None, layout_params, config, declared_by_template, "layout")]
    for subject in subjects:
        for region in config.regions:
            params = {**base, "subject": int(subject), "region": region}
            rel = f"{subject_label(subject)}/{region}"
            jobs.append(
                _job(VALIDATION, subject, region, params, config, declared_by_template, rel)
            )
    return jobs


def _job(template, subject, region, params, config, declared_by_template, rel_dir):
    declared = declared_by_template[template]
    extra = {k: v for k, v in config.parameters.items() if k in declared}
    params = {k: v for k, v in {**params, **extra}.items() if k in declared}
    scope = "-".join(str(p) for p in (subject and subject_label(subject), region) if p)
    job_id = f"{scope}-{template}" if scope else template
    return Job(job_id, template, subject, region, params, rel_dir)


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
    layout = detect_layout(config.nsd_root, config.variant, **config.folders)
    subjects = resolve_subjects(config, layout)
    layout.validate(subjects, config.regions)
    declared = {
        t: declared_parameters(template_path(config.notebooks_dir, t))
        for t in (LAYOUT, VALIDATION)
    }
    check_overrides(config.parameters, declared)
    out = check_out(config.out)
    executor = executor_for(config)
    executor.warm_up()  # what the workers need starts while the inputs are checked
    # unreadable input: exit 2, OUT untouched
    check_inputs_watched(
        layout,
        subjects,
        config.regions,
        timeout=config.read_timeout,
        context=pool.pool_context(),
    )
    previous = {} if config.force else incremental.previous_records(out)
    regions = incremental.layout_regions(config.regions, previous)
    jobs, todo, kept = plan_run(
        config, layout, subjects, declared, out=out, previous=previous, regions=regions
    )
    with executor:
        todo_subjects = sorted({job.subject for job in todo if job.subject is not None})
        extract_subjects(
            layout,
            todo_subjects,
            config=config,
            cache_dir=out / CACHE_DIR,
            executor=executor,
            on_progress=on_progress,
        )
        prepare_out(out)
        for done, record in enumerate(kept.values(), 1):
            _notify(on_report, record, done, len(jobs), unchanged=True)
        executed = execute_jobs(
            todo, out=out, config=config, on_report=on_report, offset=len(kept), executor=executor
        )
    fresh = {r.id: r for r in executed}
    records = incremental.merge(jobs, {**kept, **fresh}, previous)
    inputs = describe_run_inputs(
        layout, subjects, regions, config=config, out=out, on_progress=on_progress
    )
    return finish_run(
        out, records, config=config, inputs=inputs, seconds=time.perf_counter() - started
    )


def executor_for(config):
    """The executor ``config`` asks for: this machine's pool or a dask cluster (a context)."""
    executors.check_choice(config.executor, config.scheduler)
    if config.executor == "dask":
        return DaskExecutor(
            config.scheduler, local_workers=config.jobs, warm_kernels=config.warm_kernels
        )
    return pool.LocalExecutor(config.jobs, warm_kernels=config.warm_kernels)


def plan_run(config, layout, subjects, declared, *, out, previous, regions):
    """The run's jobs with their fingerprints, those to execute, and the records kept.

    Returns
    -------
    jobs : list of Job
        Every planned report.
    todo : list of Job
        Those an earlier run in ``out`` did not leave current.
    kept : dict
        Job id -> the earlier record that stands for it.
    """
    jobs = plan_jobs(config, subjects, declared, layout_regions=regions)
    prints = fingerprints(jobs, layout, config=config, subjects=subjects, regions=regions)
    jobs = [replace(job, fingerprint=prints[job.id]) for job in jobs]
    todo = [job for job in jobs if not incremental.is_current(previous.get(job.id), job, out)]
    kept = {job.id: previous[job.id] for job in jobs if job not in todo}
    return jobs, todo, kept


def describe_run_inputs(layout, subjects, regions, *, config, out, on_progress=None):
    """The manifest's input entries, described as ``config.hash_mode`` asks."""
    return manifest.describe_inputs(
        layout.input_files(subjects, regions),
        root=layout.root,
        hash_mode=config.hash_mode,
        previous=incremental.previous_inputs(out),
        reads=cache.read_digests(Path(out) / CACHE_DIR),
        on_progress=None if on_progress is None else partial(on_progress, None),
    )


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


def extract_subjects(layout, subjects, *, config, cache_dir, executor=None, on_progress=None):
    """Read every region of each subject in one pass, subjects in parallel, before any report.

    The extractions are written to a staging folder beside OUT and moved into
    ``cache_dir`` only when every subject could be read, so an unreadable input leaves OUT
    as it was. With ``config.cache`` off the pass still runs (no report may run on data
    that could not be read) and its result is dropped. With the local executor (or none)
    each subject is read in a watched child process (:mod:`nsdval.data.watched`); with a
    dask executor, by the cluster's workers.

    Raises
    ------
    InputError
        A file a subject's extraction needs cannot be read (named), or made its reader
        stall or die.
    """
    if not subjects:
        return
    cache_dir = Path(cache_dir)
    beside_out = existing_folder(cache_dir.parent)
    staging = Path(tempfile.mkdtemp(prefix=".nsdval-extract-", dir=beside_out))
    try:
        kwargs = {
            "layout": layout,
            "regions": tuple(config.regions),
            "cache_dir": str(cache_dir),
            "staging_dir": str(staging),
        }
        if executor is None or isinstance(executor, pool.LocalExecutor):
            _extract_watched(subjects, kwargs, config=config, on_progress=on_progress)
        else:
            for outcome in executor.map_as_completed(_extract_subject, list(subjects), **kwargs):
                if isinstance(outcome.error, NsdvalError):
                    raise outcome.error
        if config.cache:
            cache_dir.mkdir(parents=True, exist_ok=True)
            for staged in sorted(staging.glob("*.npz")):
                staged.replace(cache_dir / staged.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract_watched(subjects, kwargs, *, config, on_progress):
    calls = [
        (_extract_subject, {**kwargs, "subject": s}, kwargs["layout"].subject_betas_dir(s))
        for s in subjects
    ]

    def beat(index, path, info):
        if on_progress is not None and "sessions_done" in info:
            on_progress(info["subject"], info)

    finished = watched.run_watched(
        calls,
        timeout=config.read_timeout,
        jobs=config.jobs,
        on_beat=beat,
        context=pool.pool_context(),
    )
    for index, _ in finished:
        if on_progress is not None:
            on_progress(subject_label(subjects[index]), {"finished": True})


def _extract_subject(subject, *, layout, regions, cache_dir, staging_dir):
    """One subject's extraction; unreadable input raises, anything else is left to the reports.

    A failure that is not about the input (a bug, memory) leaves the subject out of the
    cache: its reports extract on their own and show the error, and the batch goes on.
    """
    try:
        cache.prepare_subject(layout, subject, regions, cache_dir, staging_dir=staging_dir)
    except NsdvalError:
        raise
    except Exception:  # the subject's reports extract on their own and show the error
        pass


def existing_folder(path):
    """``path``'s nearest ancestor that exists (the staging folder's place)."""
    for folder in Path(path).resolve().parents:
        if folder.is_dir():
            return folder
    return Path.cwd()


def fingerprints(jobs, layout, *, config, subjects, regions):
    """Fingerprint of every planned job (see :mod:`nsdval.run.incremental`)."""
    sessions = {s: layout.sessions(s) for s in layout.subjects()}
    return {
        job.id: incremental.job_fingerprint(
            job,
            template_path=template_path(config.notebooks_dir, job.template),
            inputs=incremental.report_inputs(
                layout, subject=job.subject, region=job.region, subjects=subjects, regions=regions
            ),
            sessions=sessions,
        )
        for job in jobs
    }


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
    layout_record = next((r for r in records if r.template == LAYOUT), None)
    results = {
        "schema_version": SCHEMA_VERSION,
        "nsdval_version": nsdval.__version__,
        "created": created,
        "nsd_root": str(Path(config.nsd_root).resolve()),
        "status": run_status(records),
        "reports": records,
        "benchmark": (layout_record.benchmark if layout_record else None) or {},
    }
    run_manifest = manifest.build_manifest(
        command=config.command,
        parameters={
            "regions": list(config.regions),
            "variant": config.variant,
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
