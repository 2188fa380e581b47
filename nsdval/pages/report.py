"""One report page.

Its checks worst first, the error first when the notebook raised, the parameters papermill
injected beside the defaults, and the executed notebook.
"""

from __future__ import annotations

import ast

from markupsafe import Markup
from nbconvert.filters import strip_ansi

from nsdval.analysis.record import ReportRecord
from nsdval.pages.notebook import INJECTED_TAG, notebook_body
from nsdval.pages.shell import (
    check_rows,
    document,
    fmt_value,
    href,
    index_href,
    items,
    pick,
    render,
    status_counts,
)


def render_report(*, notebook, record: ReportRecord, title: str | None = None) -> str:
    """Render one executed notebook and its record as a self-contained HTML page.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        The executed notebook.
    record : ReportRecord
        The report's record (status, checks, error, rerun...).
    title : str, optional
        Page title; defaults to "template — subject · region".

    Returns
    -------
    page : str
        The whole HTML document: checks and errors first, then the notebook.
    """
    source = record.notebook or record.id or "report"
    checks = check_rows(record, source)
    where = " · ".join(p for p in (record.subject, record.region) if p)
    title = title or " — ".join(p for p in (record.template, where) if p)
    body, headings = notebook_body(notebook)
    html_path = record.html or "report.html"
    notebook_path = record.notebook
    rerun = record.rerun or {}
    error = _error(record.error, notebook)
    parameters, injected = _parameters(notebook, record.parameters)
    context = {
        "title": title,
        "status": record.status,  # a ReportRecord's status is one of STATUSES
        "record_id": record.id,
        "index_href": index_href(html_path),
        "notebook_href": href(notebook_path, start=html_path) if notebook_path else None,
        "seconds": record.seconds,
        "counts": status_counts(row["status"] for row in checks),
        "error": error,
        "error_anchor": 'id="papermill-error-cell"' in body,
        "checks": render(
            "checks.html.j2", checks=checks, show_where=any(row["where"] for row in checks)
        ),
        "rerun": pick(rerun, ("at",)) | {"overrides": items(rerun.get("overrides"))}
        if rerun
        else None,
        "parameters": parameters,
        "injected": injected,
        "toc": _report_toc(error=bool(error), rerun=bool(rerun), headings=headings),
        "n_code_cells": body.count('<details class="input">'),
        "notebook_body": Markup(body),
    }
    return document(
        title=title,
        body=render("report.html.j2", **context),
        script="report.js",
        page_class="report",
    )


def _error(error: dict | None, notebook) -> dict | None:
    """The record's error for the error box, with the failing cell's source when known.

    The source comes from the record (``cell_source``) or else from the cell papermill
    marked as raising (or the first cell with an error output); tracebacks lose their ANSI
    colour codes.
    """
    if not error:
        return None
    shown = pick(error, ("ename", "evalue", "cell_index", "traceback"))
    shown["traceback"] = strip_ansi(shown["traceback"]) if shown["traceback"] else None
    source = error.get("cell_source")
    if not source:
        cell = _failing_cell(notebook)
        source = cell.get("source") if cell is not None else None
    shown["cell_source"] = str(source) if source else None
    return shown


def _failing_cell(notebook):
    """The code cell papermill marked as raising, else the first with an error output."""
    code = [cell for cell in notebook.get("cells", []) if cell.get("cell_type") == "code"]
    for cell in code:
        if ((cell.get("metadata") or {}).get("papermill") or {}).get("exception") is True:
            return cell
    for cell in code:
        if any(out.get("output_type") == "error" for out in cell.get("outputs") or []):
            return cell
    return None


def _parameters(notebook, recorded: dict | None) -> tuple[list[dict], bool]:
    """The report's parameters: the template's defaults and what papermill injected.

    Returns
    -------
    rows : list of dict
        ``{"name", "value", "origin"}``: ``value`` is the Python source text of the value in
        effect and ``origin`` is ``"injected"`` or ``"default"``; when the notebook has no
        papermill cells, the recorded parameters, each with origin ``"recorded"``.
    injected : bool
        Whether the notebook holds papermill's injected-parameters cell.
    """
    cells = notebook.get("cells", [])

    def tagged(tag):
        found = [c for c in cells if tag in ((c.get("metadata") or {}).get("tags") or [])]
        return _assignments(found[0].get("source", "")) if found else None

    defaults, injected = tagged("parameters"), tagged(INJECTED_TAG)
    if injected is None:
        rows = [
            {"name": name, "value": fmt_value(value), "origin": "recorded"}
            for name, value in items(recorded)
        ]
        return rows, False
    effective = {**(defaults or {}), **injected}  # defaults' order, then injected-only names
    rows = [
        {"name": name, "value": value, "origin": "injected" if name in injected else "default"}
        for name, value in effective.items()
    ]
    return rows, True


def _assignments(source) -> dict[str, str]:
    r"""``{name: value source}`` of the top-level assignments in a parameters cell.

    Examples
    --------
    >>> _assignments('# Parameters\nregion: str = "V4"\nsubject = 1\nx = y = 2')
    {'region': '"V4"', 'subject': '1'}
    """
    source = "".join(source) if isinstance(source, list) else str(source)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name):
            found[target.id] = ast.get_source_segment(source, value) or ""
    return found


def _report_toc(*, error: bool, rerun: bool, headings: list[dict]) -> list[dict]:
    """The report's table of contents: its own sections, the notebook's headings nested."""
    sections = [
        ("errorbox", "Execution error", error),
        ("checks", "Checks", True),
        ("rerun", "Re-run", rerun),
        ("parameters", "Parameters", True),
        ("notebook", "Notebook", True),
    ]
    toc = [{"id": i, "title": t, "level": 1} for i, t, shown in sections if shown]
    return toc + [{**h, "level": h["level"] + 1} for h in headings]
