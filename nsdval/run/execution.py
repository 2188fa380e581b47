"""Executing one report: its template notebook in a fresh kernel, then its files.

A job's notebook runs with papermill in a kernel pinned to this Python (forked warm from a
zygote, see :mod:`nsdval.run.kernel`); the executed notebook, its HTML page and its
``results.json`` sidecar are written atomically, and a report record is returned. A
notebook that fails never raises: its record says ``error`` and names the failing cell.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import papermill
from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

from nsdval import atomic
from nsdval.analysis import checks
from nsdval.analysis.record import SCHEMA_VERSION, ReportRecord
from nsdval.data.layout import subject_label
from nsdval.errors import MissingInputError
from nsdval.pages.notebook import SUMMARY_TAG, markdown_text
from nsdval.pages.report import render_report
from nsdval.run.kernel import KERNEL_NAME, ThisPythonKernelManager

SIDECAR = "results.json"
# papermill marks the failing cell with banner cells carrying this tag; cell indexes skip them
PAPERMILL_BANNER = "papermill-error-cell-tag"
ENGINE = "nsdval"
SAVE_EVERY = 5.0  # seconds between writes of the partial notebook while its cells run


class ThrottledSaves(NotebookExecutionManager):
    """papermill's execution state, writing the partial notebook less often.

    papermill writes the whole notebook at every cell's start and end: 50 writes, 0.4 s of
    CPU for a 24-cell report. Here it is written when it starts, at most every
    :data:`SAVE_EVERY` seconds while cells run, and always when it ends, however it ends
    (papermill completes the notebook in a ``finally``): after a kernel death or a timeout
    the partial notebook on disk is complete.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.writes = 0

    def save(self, **kwargs):
        """Write the notebook: first, last, or :data:`SAVE_EVERY` seconds after the last."""
        if kwargs.get("nb"):
            self.nb = kwargs["nb"]
        running = self.writes and self.end_time is None
        if running and (self.now() - self.last_save_time).total_seconds() < SAVE_EVERY:
            return
        self.writes += 1
        super().save()


class ThrottledEngine(NBClientEngine):
    """papermill's nbclient engine, with :class:`ThrottledSaves` for its state."""

    @classmethod
    def execute_notebook(
        cls, nb, kernel_name, output_path=None, progress_bar=True, log_output=False, **kwargs
    ):
        """Execute ``nb`` as :meth:`papermill.engines.Engine.execute_notebook` does."""
        autosave = kwargs.pop("autosave_cell_every", 30)
        manager = ThrottledSaves(
            nb,
            output_path=output_path,
            log_output=log_output,
            progress_bar=progress_bar,
            autosave_cell_every=autosave,
        )
        manager.notebook_start()
        try:
            cls.execute_managed_notebook(manager, kernel_name, log_output=log_output, **kwargs)
        finally:
            manager.cleanup_pbar()
            manager.notebook_complete()
        return manager.nb


def register_engine():
    """Make :data:`ENGINE` known to papermill; idempotent, called before each execution.

    papermill looks engines up by name only, in a registry of its own; registering when a
    notebook is about to run, rather than when this module is imported, keeps importing
    nsdval free of side effects on other libraries.
    """
    papermill_engines.register(ENGINE, ThrottledEngine)


def template_path(notebooks_dir, template):
    """Path of a template notebook, checked to exist."""
    path = Path(notebooks_dir) / f"{template}.ipynb"
    if not path.is_file():
        raise MissingInputError(path, f"template notebook {template}")
    return path


def failed_job(job, exc, *, out, notebooks_dir, timeout=None):
    """Record, and write the report of, a job that did not finish: its worker died or it raised."""
    folder = Path(out) / job.rel_dir
    folder.mkdir(parents=True, exist_ok=True)
    record = make_record(job, {}, exception_error(exc), 0.0, None)
    notebook = read_partial(partial_path(folder, job), job, notebooks_dir)
    write_report(folder, job, notebook, record)
    return record


def execute_job(job, *, out, notebooks_dir, timeout=None, rerun=None):
    """Execute one job's notebook and write its notebook, HTML and sidecar.

    Returns the report's :class:`ReportRecord`. Never raises for a notebook that fails: the
    record's status is ``error`` and its ``error`` names the exception and the failing
    cell. The kernel is warm or plain as the process is set up
    (:func:`nsdval.run.zygote_client.warm_kernels`).
    """
    folder = Path(out) / job.rel_dir
    folder.mkdir(parents=True, exist_ok=True)
    sidecar = folder / SIDECAR
    sidecar.unlink(missing_ok=True)
    partial = partial_path(folder, job)
    parameters = {**job.parameters, "results_path": str(sidecar)}
    started = time.perf_counter()
    error = run_papermill(job, notebooks_dir, partial, parameters, timeout, folder)
    seconds = round(time.perf_counter() - started, 2)
    notebook = read_partial(partial, job, notebooks_dir)
    if error is not None:
        error = locate_failing_cell(error, notebook)
    payload = checks.read_sidecar(sidecar) if sidecar.is_file() and error is None else {}
    record = make_record(job, payload, error, seconds, rerun)
    write_report(folder, job, notebook, record, benchmark=payload.get("benchmark"))
    partial.unlink(missing_ok=True)
    return record


def write_report(folder, job, notebook, record, *, benchmark=None):
    """Write a report's executed notebook (summary first), HTML page and sidecar, atomically.

    The sidecar is written last: its presence, with the record's fingerprint, marks the
    report as finished for the next run into the same folder.
    """
    insert_summary(notebook, record)
    atomic.write_text(folder / f"{job.template}.ipynb", nbformat.writes(notebook))
    page = render_report(notebook=notebook, record=record)
    atomic.write_text(folder / f"{job.template}.html", page)
    extra = {"benchmark": benchmark} if benchmark is not None else {}
    payload = {"schema_version": SCHEMA_VERSION, **record.to_dict(), "extra": extra}
    atomic.write_json(folder / SIDECAR, payload)


def run_papermill(job, notebooks_dir, partial, parameters, timeout, cwd):
    """Execute the job's template into ``partial``; the error record, or ``None``."""
    register_engine()
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
            engine_name=ENGINE,
        )
    except papermill.PapermillExecutionError as exc:
        return {
            "ename": exc.ename,
            "evalue": exc.evalue,
            "cell_index": exc.cell_index,
            "traceback": "\n".join(exc.traceback or []),
        }
    except Exception as exc:  # kernel death, timeouts, unreadable templates: all recorded
        return exception_error(exc)
    return None


def exception_error(exc):
    """The error record of an exception raised outside any cell (no index, no traceback)."""
    return {"ename": type(exc).__name__, "evalue": str(exc), "cell_index": None, "traceback": ""}


def partial_path(folder, job):
    """Where papermill writes a job's notebook while it runs (removed with the report written)."""
    return Path(folder) / f".{job.template}.partial.ipynb"


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


def read_partial(partial, job, notebooks_dir):
    """The executed notebook as far as papermill got, else the template itself."""
    source = partial if partial.is_file() else template_path(notebooks_dir, job.template)
    return nbformat.read(str(source), as_version=4)


def make_record(job, payload, error, seconds, rerun):
    """A report's :class:`ReportRecord`: its checks and status (``error`` if it ran to none)."""
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
    return ReportRecord(
        id=job.id,
        template=job.template,
        subject=subject_label(job.subject) if job.subject else None,
        region=job.region,
        family=job.family,
        status=status,
        notebook=f"{job.rel_dir}/{job.template}.ipynb",
        html=f"{job.rel_dir}/{job.template}.html",
        seconds=seconds,
        parameters=job.parameters,
        checks=found,
        error=error,
        rerun=rerun,
        benchmark=payload.get("benchmark"),
        fingerprint=job.fingerprint,
    )


def insert_summary(notebook, record):
    """Open the executed notebook with a table of its checks, worst first."""
    rows = sorted(record.checks, key=lambda c: -checks.STATUSES.index(c["status"]))
    lines = [f"**Status: {record.status.upper()}** ({len(rows)} checks)", ""]
    if record.error:
        err = record.error
        where, ename, evalue = (_cell_text(err.get(k)) for k in ("cell_index", "ename", "evalue"))
        lines += [f"Error in cell {where}: **{ename}**: {evalue}", ""]
    lines += ["| status | section | check | detail |", "|---|---|---|---|"]
    lines += [
        "| " + " | ".join(_cell_text(c[k]) for k in ("status", "section", "name", "detail")) + " |"
        for c in rows
    ]
    cell = nbformat.v4.new_markdown_cell("\n".join(lines))
    cell.metadata["tags"] = [SUMMARY_TAG]
    notebook.cells = [c for c in notebook.cells if SUMMARY_TAG not in c.metadata.get("tags", [])]
    notebook.cells.insert(1 if notebook.cells else 0, cell)


def _cell_text(value):
    """``value`` as literal text in a Markdown table cell: HTML and Markdown escaped."""
    return markdown_text(value)
