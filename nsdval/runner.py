"""Expanding a run into notebook jobs, executing them with papermill, collecting results.

Each job executes one template notebook (``assembly_validation`` per subject and region,
``assembly_layout`` once) in a kernel pinned to this Python, writes the executed notebook,
its HTML report and its ``results.json`` sidecar, and returns a report record. A job that
fails never stops the batch: its record says ``error`` and names the failing cell.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import papermill

import nsdval
from nsdval import (
    atomic,
    cache,
    checks,
    compare,
    executors,
    html,
    incremental,
    kernel,
    manifest,
    verify,
)
from nsdval.errors import MissingInputError, OutputError, ParameterError
from nsdval.kernel import KERNEL_NAME, ThisPythonKernelManager
from nsdval.layout import DEFAULT_VARIANT, REGIONS, detect_layout, subject_label
from nsdval.preflight import check_inputs, check_report_inputs

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
SIDECAR = "results.json"
CACHE_DIR = ".cache"
COMPARE_PAGE = "compare.html"
# papermill marks the failing cell with banner cells carrying this tag; cell indexes skip them
PAPERMILL_BANNER = "papermill-error-cell-tag"


def default_notebooks_dir():
    """The template notebooks shipped beside the package."""
    return Path(nsdval.__file__).resolve().parent.parent / "notebooks"


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


@dataclass(frozen=True)
class Job:
    """One notebook execution.

    ``fingerprint`` (see :mod:`nsdval.incremental`) goes into the report's record and
    sidecar, so the reports an interrupted run finished count as current in the next run.
    """

    id: str
    template: str
    subject: int | None
    region: str | None
    parameters: dict
    rel_dir: str
    fingerprint: str | None = None


def template_path(notebooks_dir, template):
    """Path of a template notebook, checked to exist."""
    path = Path(notebooks_dir) / f"{template}.ipynb"
    if not path.is_file():
        raise MissingInputError(path, f"template notebook {template}")
    return path


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


def run_reports(config, *, on_report=None):
    """Execute every report of a run and write the run's results, manifest and index.

    Parameters
    ----------
    config : RunConfig
        The run.
    on_report : callable or None
        Called as ``on_report(record, done, total)`` for each finished report, in
        completion order.

    Returns
    -------
    dict
        The run's ``results.json`` content.
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
    if config.executor == "local":
        kernel.prestart_zygote()  # it imports while the inputs are checked and extracted
    check_inputs(layout, subjects, config.regions)  # unreadable input: exit 2, OUT untouched
    out = prepare_out(config.out)
    previous = {} if config.force else incremental.previous_records(out)
    regions = incremental.layout_regions(config.regions, previous)
    jobs = plan_jobs(config, subjects, declared, layout_regions=regions)
    prints = fingerprints(jobs, layout, config=config, subjects=subjects, regions=regions)
    jobs = [replace(job, fingerprint=prints[job.id]) for job in jobs]
    todo = [job for job in jobs if not incremental.is_current(previous.get(job.id), job, out)]
    kept = {job.id: previous[job.id] for job in jobs if job not in todo}
    for done, record in enumerate(kept.values(), 1):
        _notify(on_report, {**record, "unchanged": True}, done, len(jobs))
    with executors.for_config(config) as executor:
        if config.cache:
            todo_subjects = sorted({job.subject for job in todo if job.subject is not None})
            extract_subjects(
                layout, todo_subjects, config=config, cache_dir=out / CACHE_DIR, executor=executor
            )
        executed = execute_jobs(
            todo, out=out, config=config, on_report=on_report, offset=len(kept), executor=executor
        )
    fresh = {r["id"]: r for r in executed}
    records = incremental.merge(jobs, {**kept, **fresh}, previous)
    inputs = manifest.describe_inputs(
        layout.input_files(subjects, regions),
        root=layout.root,
        previous=incremental.previous_inputs(out),
    )
    return finish_run(
        out, records, config=config, inputs=inputs, seconds=time.perf_counter() - started
    )


def prepare_out(out):
    """Create the output folder, refusing a path that is a file."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(out, "output path exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return out.resolve()


def extract_subjects(layout, subjects, *, config, cache_dir, executor=None):
    """Fill the extraction cache: every region of each subject in one pass, subjects in parallel.

    A subject whose extraction fails (or whose worker dies) is left out of the cache; its
    reports extract (and fail) on their own, so the error shows in the reports and the
    batch goes on. ``executor`` (see :mod:`nsdval.executors`) defaults to the one
    ``config`` asks for.
    """
    if executor is None:
        with executors.for_config(config) as executor:
            return extract_subjects(
                layout, subjects, config=config, cache_dir=cache_dir, executor=executor
            )
    outcomes = executor.map_as_completed(
        _extract_quietly,
        list(subjects),
        layout=layout,
        regions=tuple(config.regions),
        cache_dir=str(Path(cache_dir).resolve()),
    )
    for _ in outcomes:
        pass


def _extract_quietly(subject, *, layout, regions, cache_dir):
    try:
        cache.prepare_subject(layout, subject, regions, cache_dir)
    except Exception:  # the subject's reports will extract themselves and show the error
        return False
    return True


def fingerprints(jobs, layout, *, config, subjects, regions):
    """Fingerprint of every planned job (see :mod:`nsdval.incremental`)."""
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
        with executors.for_config(config) as executor:
            return execute_jobs(
                jobs, out=out, config=config, on_report=on_report, offset=offset, executor=executor
            )
    kwargs = {
        "out": str(Path(out).resolve()),
        "notebooks_dir": str(Path(config.notebooks_dir).resolve()),
        "timeout": config.timeout,
    }
    if isinstance(executor, executors.LocalExecutor):  # workers on this machine share a zygote
        kwargs["zygote"] = kernel.zygote_address()
    records = {}
    for job, record, error in executor.map_as_completed(execute_job, list(jobs), **kwargs):
        if error is not None:
            record = _failed_job(job, error, **kwargs)
        records[job.id] = record
        _notify(on_report, record, offset + len(records), offset + len(jobs))
    return [records[job.id] for job in jobs]


def _failed_job(job, exc, *, out, notebooks_dir, timeout=None, zygote=None):
    """Record, and write the report of, a job that did not finish: its worker died or it raised."""
    folder = Path(out) / job.rel_dir
    folder.mkdir(parents=True, exist_ok=True)
    error = {"ename": type(exc).__name__, "evalue": str(exc), "cell_index": None, "traceback": ""}
    record = _record(job, {}, error, 0.0, None)
    notebook = _read_partial(folder / f".{job.template}.partial.ipynb", job, notebooks_dir)
    write_report(folder, job, notebook, record)
    return record


def _notify(callback, record, done, total):
    if callback is not None:
        callback(record, done, total)


def execute_job(job, *, out, notebooks_dir, timeout=None, rerun=None, zygote=None):
    """Execute one job's notebook and write its notebook, HTML and sidecar.

    Never raises for a notebook that fails: the record's status is ``error`` and its
    ``error`` entry names the exception and the failing cell. ``zygote`` (a
    :class:`nsdval.kernel.ZygoteAddress`) is the run's shared zygote to fork the kernel
    from; without it, the process starts a zygote of its own.
    """
    kernel.use_zygote(zygote)
    folder = Path(out) / job.rel_dir
    folder.mkdir(parents=True, exist_ok=True)
    sidecar = folder / SIDECAR
    sidecar.unlink(missing_ok=True)
    partial = folder / f".{job.template}.partial.ipynb"
    parameters = {**job.parameters, "results_path": str(sidecar)}
    started = time.perf_counter()
    error = _execute(job, notebooks_dir, partial, parameters, timeout, folder)
    seconds = round(time.perf_counter() - started, 2)
    notebook = _read_partial(partial, job, notebooks_dir)
    if error is not None:
        error = locate_failing_cell(error, notebook)
    payload = checks.read_sidecar(sidecar) if sidecar.is_file() and error is None else {}
    record = _record(job, payload, error, seconds, rerun)
    write_report(folder, job, notebook, record, benchmark=payload.get("benchmark"))
    partial.unlink(missing_ok=True)
    return record


def write_report(folder, job, notebook, record, *, benchmark=None):
    """Write a report's executed notebook (summary first), HTML page and sidecar, atomically.

    The sidecar is written last: its presence, with the record's fingerprint, marks the
    report as finished for the next run into the same folder.
    """
    _insert_summary(notebook, record)
    atomic.write_text(folder / f"{job.template}.ipynb", nbformat.writes(notebook))
    page = html.render_report(notebook=notebook, record=record)
    atomic.write_text(folder / f"{job.template}.html", page)
    extra = {"benchmark": benchmark} if benchmark is not None else {}
    payload = {"schema_version": checks.SCHEMA_VERSION, **record, "extra": extra}
    atomic.write_json(folder / SIDECAR, payload)


def _execute(job, notebooks_dir, partial, parameters, timeout, cwd):
    try:
        papermill.execute_notebook(
            str(template_path(notebooks_dir, job.template)),
            str(partial),
            parameters=parameters,
            kernel_name=KERNEL_NAME,
            language="python",
            progress_bar=False,
            cwd=str(cwd),
            execution_timeout=timeout,
            kernel_manager_class=ThisPythonKernelManager,
        )
    except papermill.PapermillExecutionError as exc:
        return {
            "ename": exc.ename,
            "evalue": exc.evalue,
            "cell_index": exc.cell_index,
            "traceback": "\n".join(exc.traceback or []),
        }
    except Exception as exc:  # kernel death, timeouts, unreadable templates: all recorded
        return {
            "ename": type(exc).__name__,
            "evalue": str(exc),
            "cell_index": None,
            "traceback": "",
        }
    return None


def locate_failing_cell(error, notebook):
    """Complete an error record with the index and source of the cell that failed.

    An exception in a cell carries its index; a kernel death or a cell timeout does not,
    so the failing cell is then the last one papermill started. Indexes count the cells of
    the executed notebook, papermill's injected-parameters cell included and its error
    banner cells left out.

    Parameters
    ----------
    error : dict
        ``ename``, ``evalue``, ``cell_index`` (or ``None``) and ``traceback``.
    notebook : nbformat.NotebookNode
        The executed (partial) notebook, papermill's injected cell included.

    Returns
    -------
    dict
        A copy of ``error`` with ``cell_index`` and ``cell_source`` filled when known.
    """
    cells = [c for c in notebook.cells if PAPERMILL_BANNER not in c.metadata.get("tags", [])]
    index = error.get("cell_index")
    if index is None:
        started = [
            i for i, c in enumerate(cells) if (c.metadata.get("papermill") or {}).get("start_time")
        ]
        index = started[-1] if started else None
    source = cells[index].source if index is not None and index < len(cells) else None
    return {**error, "cell_index": index, "cell_source": source}


def _read_partial(partial, job, notebooks_dir):
    source = partial if partial.is_file() else template_path(notebooks_dir, job.template)
    return nbformat.read(str(source), as_version=4)


def _record(job, payload, error, seconds, rerun):
    found = payload.get("checks", [])
    status = "error" if error else checks.worst_status(c["status"] for c in found)
    if not error and not found:
        status = "error"
        error = {
            "ename": "NoResults",
            "evalue": "the notebook recorded no checks",
            "cell_index": None,
            "traceback": "",
        }
    return {
        "id": job.id,
        "template": job.template,
        "subject": subject_label(job.subject) if job.subject else None,
        "region": job.region,
        "status": status,
        "notebook": f"{job.rel_dir}/{job.template}.ipynb",
        "html": f"{job.rel_dir}/{job.template}.html",
        "seconds": seconds,
        "parameters": job.parameters,
        "checks": found,
        "error": error,
        "rerun": rerun,
        "benchmark": payload.get("benchmark"),
        "fingerprint": job.fingerprint,
    }


def _insert_summary(notebook, record):
    """Open the executed notebook with a table of its checks, worst first."""
    rows = sorted(record["checks"], key=lambda c: -checks.STATUSES.index(c["status"]))
    lines = [f"**Status: {record['status'].upper()}** ({len(rows)} checks)", ""]
    if record["error"]:
        err = record["error"]
        where, ename, evalue = (_cell_text(err.get(k)) for k in ("cell_index", "ename", "evalue"))
        lines += [f"Error in cell {where}: **{ename}**: {evalue}", ""]
    lines += ["| status | section | check | detail |", "|---|---|---|---|"]
    lines += [
        "| " + " | ".join(_cell_text(c[k]) for k in ("status", "section", "name", "detail")) + " |"
        for c in rows
    ]
    cell = nbformat.v4.new_markdown_cell("\n".join(lines))
    cell.metadata["tags"] = [html.SUMMARY_TAG]
    notebook.cells = [
        c for c in notebook.cells if html.SUMMARY_TAG not in c.metadata.get("tags", [])
    ]
    notebook.cells.insert(1 if notebook.cells else 0, cell)


def _cell_text(value):
    """``value`` as literal text in a Markdown table cell: HTML and Markdown escaped."""
    return html.markdown_text(value)


def run_status(records):
    """``error``, ``fail`` or ``pass`` for a whole run (warnings pass)."""
    worst = checks.worst_status(r["status"] for r in records)
    return "pass" if worst == "warn" else worst


def finish_run(out, records, *, config, inputs, seconds):
    """Write results.json, manifest.json and index.html for a finished run."""
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    layout_record = next((r for r in records if r["template"] == LAYOUT), None)
    results = {
        "schema_version": checks.SCHEMA_VERSION,
        "nsdval_version": nsdval.__version__,
        "created": created,
        "nsd_root": str(Path(config.nsd_root).resolve()),
        "status": run_status(records),
        "reports": records,
        "benchmark": (layout_record or {}).get("benchmark") or {},
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
            "reports": {r["id"]: r["seconds"] for r in records},
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
    atomic.write_text(Path(out) / COMPARE_PAGE, html.render_compare(comparison=comparison))
    return {
        "against": str(previous),
        "html": COMPARE_PAGE,
        "regressions": comparison["regressions"],
        "changed": comparison["changed"],
    }


def write_run_outputs(out, results, run_manifest):
    """Write the run's three top-level files, each atomically."""
    atomic.write_json(Path(out) / "results.json", results)
    atomic.write_json(Path(out) / "manifest.json", run_manifest)
    atomic.write_text(
        Path(out) / "index.html", html.render_index(results=results, manifest=run_manifest)
    )


def find_run_root(path):
    """The run folder above a report folder or file (the one holding results.json)."""
    path = Path(path).resolve()
    for folder in [path, *path.parents]:
        candidate = folder / "results.json"
        if candidate.is_file() and "reports" in json.loads(candidate.read_text()):
            return folder
    raise MissingInputError(path, "run results.json in this folder or above")


def rerun_report(path, overrides, *, notebooks_dir=None, timeout=None):
    """Re-execute one report with its recorded parameters plus ``overrides``.

    Returns
    -------
    record : dict
        The new report record; the run's results.json and index.html are refreshed.
    """
    root = find_run_root(path)
    results = json.loads((root / "results.json").read_text())
    target = Path(path).resolve()
    matches = [
        r for r in results["reports"] if (root / r["html"]).parent in (target, target.parent)
    ]
    if not matches:
        raise MissingInputError(target, "report of this run")
    old = matches[0]
    notebooks_dir = Path(notebooks_dir or default_notebooks_dir())
    declared = declared_parameters(template_path(notebooks_dir, old["template"]))
    check_overrides(overrides, {old["template"]: declared})
    check_report_inputs(old["parameters"])
    job = Job(
        old["id"],
        old["template"],
        _subject_number(old["subject"]),
        old["region"],
        {**old["parameters"], **overrides},
        str(Path(old["html"]).parent),
    )
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record = execute_job(
        job,
        out=root,
        notebooks_dir=notebooks_dir,
        timeout=timeout,
        rerun={"at": at, "overrides": overrides},
    )
    results["reports"] = [record if r["id"] == old["id"] else r for r in results["reports"]]
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
