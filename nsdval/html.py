"""Render executed notebooks and run results (``results.json``) as self-contained HTML pages.

Records arrive already computed; this module only lays them out with the Jinja files in the
repository's ``templates/`` and returns strings. Autoescaping is always on; the trusted
fragments are nbconvert's rendering of the notebook and elements rendered from templates.
"""

from __future__ import annotations

import functools
import html as _html
import json
import math
import posixpath
import re
import unicodedata
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import jinja2
from markupsafe import Markup
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor

from nsdval.errors import InputError

STATUSES = ("error", "fail", "warn", "pass")
"""Every status, worst first; the order of sorting and of "worst"."""

REGION_ORDER = ("V1", "V2", "V4", "IT")
SUMMARY_TAG = "nsdval-summary"
"""Regions in display order; other regions follow, sorted by name."""

_PAGE_IDS = ("summary", "errorbox", "checks", "rerun", "parameters", "contents", "notebook")
_HEADING = re.compile(r'<h([1-3]) id="([^"]*)">(.*?)</h\1>', re.DOTALL)
_EXTERNAL = re.compile(r"""\b(?:src|href)\s*=\s*(["'])\s*((?:https?:)?//[^"']*)\1""", re.I)


def templates_dir() -> Path:
    """Return the repository's ``templates/`` folder (Jinja files and the stylesheet).

    Raises
    ------
    FileNotFoundError
        If the folder does not exist, naming the path looked for.
    """
    path = Path(__file__).resolve().parent.parent / "templates"
    if not path.is_dir():
        raise FileNotFoundError(f"nsdval templates folder not found: {path}")
    return path


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Return the one cached Jinja environment: autoescape on, strict, filters registered."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["fmt_value"] = fmt_value
    env.filters["status_class"] = status_class
    return env


def fmt_value(value) -> str:
    """Format a check value, threshold or parameter for a table cell.

    Small and large floats use 3 significant digits in e-notation; ``None`` is a dash; the
    text is escaped later by the template.

    Examples
    --------
    >>> [fmt_value(v) for v in (1e-05, 0.35, 0.0, 412, True, None, "V4", 123456.0)]
    ['1.00e-05', '0.35', '0', '412', 'True', '—', 'V4', '1.23e+05']
    """
    if value is None:
        return "—"
    if isinstance(value, float):
        if value == 0 or not math.isfinite(value):
            return f"{value:g}"
        return f"{value:.4g}" if 1e-3 <= abs(value) < 1e4 else f"{value:.2e}"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str)
    return str(value)


def status_class(status: str) -> str:
    """Return the CSS class of a status badge; an unknown status gets a neutral class.

    Examples
    --------
    >>> status_class("warn"), status_class("odd")
    ('status-warn', 'status-unknown')
    """
    return f"status-{status}" if status in STATUSES else "status-unknown"


def dom_id(text, used: set) -> str:
    """Return a sanitised anchor id for ``text``, unique within ``used``, and record it there.

    Parameters
    ----------
    text : str
        Any label, e.g. a heading.
    used : set of str
        Ids already taken on the page; the new id is added to it.

    Returns
    -------
    anchor : str
        Lowercase ``[a-z0-9-]`` only, made unique with ``-2``, ``-3``...

    Examples
    --------
    >>> used = set()
    >>> dom_id("1. Region assembly -> Brain-Score", used), dom_id("V4", used), dom_id("v4", used)
    ('1-region-assembly-brain-score', 'v4', 'v4-2')
    """
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "section"
    anchor, n = base, 1
    while anchor in used:
        n += 1
        anchor = f"{base}-{n}"
    used.add(anchor)
    return anchor


@functools.lru_cache(maxsize=1)
def _exporter() -> HTMLExporter:
    """Return the one nbconvert exporter, using nsdval's fragment template.

    Cells tagged ``nsdval-summary`` (the check table the runner puts at the top of the
    executed notebook) are dropped: the report page shows its own check table first.
    """
    exporter = HTMLExporter(
        extra_template_basedirs=[str(templates_dir() / "nbconvert")],
        template_name="nsdval",
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags={SUMMARY_TAG}), enabled=True
    )
    return exporter


def notebook_body(nb) -> tuple[str, list[dict]]:
    """Render an executed notebook as an HTML fragment with code inputs collapsed.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The executed notebook; it is not modified.

    Returns
    -------
    fragment : str
        HTML without page shell or prompts; JavaScript and widget outputs are omitted and
        external ``src``/``href`` URLs move to a ``data-blocked-url`` attribute; images are
        inlined as ``data:`` URIs.
    toc : list of dict
        ``{"id", "title", "level"}`` for each h1-h3 heading, ids unique and present in
        ``fragment``.
    """
    fragment, _ = _exporter().from_notebook_node(nb)
    fragment = _EXTERNAL.sub(r"data-blocked-url=\1\2\1", fragment)
    return _heading_anchors(fragment, used=set(_PAGE_IDS))


def _heading_anchors(fragment: str, *, used: set) -> tuple[str, list[dict]]:
    """Give headings sanitised unique ids, retarget links to them, and list them."""
    toc, renamed = [], {}

    def replace(match):
        level, old, inner = match.groups()
        text = _html.unescape(re.sub(r"<[^>]*>", "", inner)).replace("¶", "").strip()
        new = dom_id(text, used)
        renamed.setdefault(old, new)
        toc.append({"id": new, "title": text, "level": int(level)})
        inner = inner.replace(f'href="#{old}"', f'href="#{new}"')
        return f'<h{level} id="{new}">{inner}</h{level}>'

    fragment = _HEADING.sub(replace, fragment)
    for old, new in renamed.items():
        fragment = fragment.replace(f'href="#{old}"', f'href="#{new}"')
    return fragment, toc


def _render(name: str, **context) -> Markup:
    """Render one template of ``templates/`` as a trusted fragment."""
    return Markup(environment().get_template(name).render(**context))


def figure_html(*, png_base64: str, caption: str) -> Markup:
    """Render a ``<figure>`` from base64 PNG text and a plain-text (escaped) caption."""
    if not re.fullmatch(r"[A-Za-z0-9+/=\s]*", png_base64):
        raise ValueError("png_base64 must be base64 text")
    return _render("figure.html.j2", png_base64="".join(png_base64.split()), caption=caption)


def _status(value, *, source: str, what: str) -> str:
    """Return ``value`` if it is a known status, else raise naming where it came from."""
    if value not in STATUSES:
        raise InputError(source, f"{what} has status {value!r}; expected one of {STATUSES}")
    return value


def _rank(status: str) -> int:
    return STATUSES.index(status)


def _inside(path) -> str:
    """Return ``path`` if it is relative and inside the run folder, else raise."""
    text = str(path)
    parts = PurePosixPath(text).parts
    if not text or text.startswith("/") or ".." in parts or ":" in text or "\\" in text:
        raise InputError(text, "report paths must be relative paths inside the run folder")
    return text


def _href(path, *, start: str = "") -> str:
    """Return the URL of run-relative ``path`` as seen from the page at run-relative ``start``."""
    folder = posixpath.dirname(_inside(start)) if start else ""
    return quote(posixpath.relpath(_inside(path), folder or "."))


def index_href(html_path: str) -> str:
    """Return the relative link from a report at ``html_path`` back to the run's index.

    Examples
    --------
    >>> index_href("subj01/V4/assembly_validation.html"), index_href("assembly_layout.html")
    ('../../index.html', 'index.html')
    """
    depth = len(PurePosixPath(_inside(html_path)).parent.parts)
    return "../" * depth + "index.html"


def _check_rows(record: dict, source: str) -> list[dict]:
    """Return the record's checks as display rows, worst first, keeping order within status."""
    home = (record.get("subject"), record.get("region"))
    rows = []
    for check in record.get("checks") or []:
        row = {key: check.get(key) or "" for key in ("section", "name", "detail")}
        row["value"], row["threshold"] = check.get("value"), check.get("threshold")
        row["status"] = _status(check.get("status"), source=source, what=f"check {row['name']!r}")
        where = (check.get("subject"), check.get("region"))
        row["where"] = " · ".join(p for p in where if p) if where != home else ""
        rows.append(row)
    return sorted(rows, key=lambda row: _rank(row["status"]))


def _counts(statuses) -> list[dict]:
    """Return ``{"status", "n"}`` for every status, worst first."""
    statuses = list(statuses)
    return [{"status": s, "n": statuses.count(s)} for s in STATUSES]


def _pick(mapping: dict | None, keys: tuple) -> dict | None:
    """Return ``mapping`` restricted to ``keys`` (missing ones None), or None if it is empty."""
    return {key: mapping.get(key) for key in keys} if mapping else None


def _items(mapping) -> list[tuple[str, object]]:
    return [(str(k), v) for k, v in (mapping or {}).items()]


def render_report(*, notebook, record: dict, title: str | None = None) -> str:
    """Render one executed notebook and its record as a self-contained HTML page.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        The executed notebook.
    record : dict
        The report record from ``results.json`` (status, checks, error, rerun...).
    title : str, optional
        Page title; defaults to "template — subject · region".

    Returns
    -------
    page : str
        The whole HTML document: checks and errors first, then the notebook.
    """
    source = record.get("notebook") or record.get("id") or "report"
    status = _status(record.get("status"), source=source, what="the report")
    checks = _check_rows(record, source)
    where = " · ".join(p for p in (record.get("subject"), record.get("region")) if p)
    title = title or " — ".join(p for p in (record.get("template"), where) if p)
    body, toc = notebook_body(notebook)
    html_path = record.get("html") or "report.html"
    notebook_path = record.get("notebook")
    rerun = record.get("rerun") or {}
    context = {
        "title": title,
        "status": status,
        "record_id": record.get("id") or "",
        "index_href": index_href(html_path),
        "notebook_href": _href(notebook_path, start=html_path) if notebook_path else None,
        "seconds": record.get("seconds"),
        "counts": _counts(row["status"] for row in checks),
        "error": _pick(record.get("error"), ("ename", "evalue", "cell_index", "traceback")),
        "error_anchor": 'id="papermill-error-cell"' in body,
        "checks": _render(
            "checks.html.j2", checks=checks, show_where=any(row["where"] for row in checks)
        ),
        "rerun": _pick(rerun, ("at",)) | {"overrides": _items(rerun.get("overrides"))}
        if rerun
        else None,
        "parameters": _items(record.get("parameters")),
        "toc": toc,
        "notebook_body": Markup(body),
    }
    return _page(title=title, body=_render("report.html.j2", **context))


def _page(*, title: str, body: Markup) -> str:
    return str(_render("page.html.j2", title=title, body=body))


def _region_key(region: str) -> tuple[int, str]:
    known = region in REGION_ORDER
    return (REGION_ORDER.index(region) if known else len(REGION_ORDER), "" if known else region)


def _report_rows(reports: list[dict]) -> list[dict]:
    """Return one flat row per report, worst first, then by subject, region and template."""
    rows = []
    for rec in reports:
        source = rec.get("notebook") or rec.get("id") or "report"
        checks = _check_rows(rec, source)
        row = {key: rec.get(key) or "" for key in ("id", "template", "subject", "region")}
        row["status"] = _status(rec.get("status"), source=source, what="the report")
        row["check_statuses"] = [c["status"] for c in checks]
        row["problems"] = [c for c in checks if c["status"] != "pass"]
        row["ename"] = (rec.get("error") or {}).get("ename")
        row["seconds"] = rec.get("seconds")
        row["href"] = _href(rec["html"]) if rec.get("html") else None
        row["rerun"] = _rerun_note(rec.get("rerun"))
        rows.append(row)
    return sorted(rows, key=lambda r: (_rank(r["status"]), r["subject"], r["region"], r["id"]))


def _comparison_link(comparison) -> dict | None:
    """Link and counts of the comparison with a previous release, when the run made one."""
    if not comparison:
        return None
    return {
        "href": _href(comparison["html"]),
        "against": comparison.get("against"),
        "regressions": comparison.get("regressions", 0),
        "changed": bool(comparison.get("changed")),
    }


def _rerun_note(rerun) -> str:
    """``"re-run 2026-11-24T10:00:00+00:00: tolerance=1e-06"`` for a re-run report, else ''."""
    if not rerun:
        return ""
    changes = ", ".join(f"{k}={fmt_value(v)}" for k, v in (rerun.get("overrides") or {}).items())
    return f"re-run {rerun.get('at', '')}" + (f": {changes}" if changes else "")


def _matrices(rows: list[dict]) -> list[dict]:
    """Return one subject x region grid per template, cells holding a report row or None."""
    grid_rows = [r for r in rows if r["subject"] and r["region"]]
    regions = sorted({r["region"] for r in grid_rows}, key=_region_key)
    subjects = sorted({r["subject"] for r in grid_rows})
    matrices = []
    for template in sorted({r["template"] for r in grid_rows}):
        cells = {(r["subject"], r["region"]): r for r in grid_rows if r["template"] == template}
        table = [
            {"subject": s, "cells": [cells.get((s, region)) for region in regions]}
            for s in subjects
        ]
        matrices.append({"template": template, "regions": regions, "rows": table})
    return matrices


def _benchmark_rows(benchmark: dict | None) -> list[dict]:
    """Return reported vs replica score, raw and ceiling per region, with differences."""
    rows = []
    for region in sorted(benchmark or {}, key=_region_key):
        reported = benchmark[region].get("reported") or {}
        replica = benchmark[region].get("replica") or {}
        for metric in ("score", "raw", "ceiling"):
            a, b = reported.get(metric), replica.get(metric)
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
            diff = b - a if numeric else None
            rows.append(
                {"region": region, "metric": metric, "reported": a, "replica": b, "diff": diff}
            )
    return rows


def _provenance(manifest: dict | None) -> dict | None:
    """Return the manifest fields shown on the index, or None without a manifest."""
    if manifest is None:
        return None
    inputs = manifest.get("inputs") or []
    total = sum(item.get("size") or 0 for item in inputs)
    versions = {"nsdval": manifest.get("nsdval_version"), "python": manifest.get("python")}
    return {
        "command": manifest.get("command"),
        "versions": _items(versions) + sorted(_items(manifest.get("packages"))),
        "parameters": _items(manifest.get("parameters")),
        "n_inputs": len(inputs),
        "inputs_size": _size(total),
        "total_seconds": (manifest.get("timings") or {}).get("total_seconds"),
    }


def _size(n_bytes: float) -> str:
    """Return a byte count in readable units.

    Examples
    --------
    >>> _size(512), _size(2048), _size(3 * 1024**3)
    ('512 B', '2.0 KiB', '3.0 GiB')
    """
    if n_bytes < 1024:
        return f"{n_bytes:.0f} B"
    power = min(int(math.log(n_bytes, 1024)), 4)
    return f"{n_bytes / 1024**power:.1f} {('KiB', 'MiB', 'GiB', 'TiB')[power - 1]}"


def render_index(*, results: dict, manifest: dict | None = None) -> str:
    """Render the run's index page from its results and, optionally, its manifest.

    Parameters
    ----------
    results : dict
        The run's ``results.json`` content.
    manifest : dict, optional
        The archive manifest (command, versions, parameters, inputs, timings).

    Returns
    -------
    page : str
        The whole HTML document; all links are relative to the run folder.
    """
    rows = _report_rows(results.get("reports") or [])
    status = _status(results.get("status"), source="results.json", what="the run")
    context = {
        "created": results.get("created"),
        "nsd_root": results.get("nsd_root"),
        "nsdval_version": results.get("nsdval_version"),
        "status": status,
        "report_counts": _counts(r["status"] for r in rows),
        "check_counts": _counts(s for r in rows for s in r["check_statuses"]),
        "layout": [r for r in rows if not (r["subject"] or r["region"])],
        "matrices": _matrices(rows),
        "reports": rows,
        "benchmark": _benchmark_rows(results.get("benchmark")),
        "provenance": _provenance(manifest),
        "comparison": _comparison_link(results.get("comparison")),
    }
    return _page(title="nsdval validation run", body=_render("index.html.j2", **context))


def render_compare(*, comparison: dict) -> str:
    """Render a comparison of two runs (from ``nsdval.compare.compare_runs``) as a page.

    Parameters
    ----------
    comparison : dict
        The comparison: run summaries, status changes, moved values, parameter, input and
        version differences, and the number of regressions.

    Returns
    -------
    page : str
        The whole HTML document, self-contained and without links.
    """
    c = comparison
    n = c["regressions"]
    sides = [{"name": name, **c[name.lower()]} for name in ("A", "B")]
    context = {
        "verdict": {
            "status": "fail" if n else "pass",
            "label": f"{n} regression{'s' if n != 1 else ''}" if n else "no regressions",
        },
        "changed": c["changed"],
        "atol": c["tolerance"]["atol"],
        "rtol": c["tolerance"]["rtol"],
        "sides": sides,
        **{
            key: c[key]
            for key in (
                "check_status",
                "report_status",
                "reports_added",
                "reports_removed",
                "checks_added",
                "checks_removed",
                "values",
                "benchmark",
                "parameters",
                "inputs",
                "versions",
            )
        },
    }
    title = f"nsdval comparison: {sides[0]['label']} → {sides[1]['label']}"
    return _page(title=title, body=_render("compare.html.j2", **context))
