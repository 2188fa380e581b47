"""Render executed notebooks and run results (``results.json``) as self-contained HTML pages.

Records arrive already computed; this module only lays them out with the Jinja files in the
repository's ``templates/`` and returns strings. Autoescaping is always on; the trusted
fragments are nbconvert's rendering of the notebook and elements rendered from templates.

Every page works offline: the stylesheet and the few lines of JavaScript (the index's filters
and sorting, the reports' "show all code") are inlined, images are ``data:`` URIs, external
``src``/``href`` URLs in notebook output are neutralised, and a Content-Security-Policy
``<meta>`` forbids every load and every script but nsdval's own (allowed by hash), so markup
that slips into a notebook's HTML output can neither run nor fetch anything.
"""

from __future__ import annotations

import ast
import base64
import functools
import hashlib
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
from nbconvert.filters import strip_ansi
from nbconvert.preprocessors import TagRemovePreprocessor

from nsdval import resources
from nsdval.analysis import checks
from nsdval.data.layout import REGIONS
from nsdval.errors import InputError

STATUSES = tuple(reversed(checks.STATUSES))
"""Every status, worst first; the order of sorting and of "worst"."""

SUMMARY_TAG = "nsdval-summary"

_PAGE_IDS = (
    "summary",
    "errorbox",
    "checks",
    "rerun",
    "parameters",
    "contents",
    "notebook",
    "show-code",
)
_HEADING = re.compile(r'<h([1-3]) id="([^"]*)">(.*?)</h\1>', re.DOTALL)
_URL_ATTRS = r"(?:src|href|srcset|action|formaction|poster|data|background|xlink:href)"
_FOREIGN = r"(?:(?:[a-z][a-z0-9+.-]*:)?//|(?:java|vb)script:)"
"""A URL that leaves the page's folder (``scheme://``, ``//host``) or runs code."""
_EXTERNAL = re.compile(
    rf"""(?<![\w:-]){_URL_ATTRS}\s*=\s*(?:(["'])\s*({_FOREIGN}[^"']*)\1"""
    rf"""|({_FOREIGN}[^\s"'=<>`]+))""",
    re.I,
)
_ACTIVE = "script|iframe|frame|frameset|object|embed|applet"
_ACTIVE_BLOCK = re.compile(rf"<({_ACTIVE})\b[^>]*>.*?</\1\s*>", re.I | re.S)
_ACTIVE_TAG = re.compile(rf"</?(?:{_ACTIVE}|link|base|meta)\b[^>]*>", re.I)
_TAG = re.compile(r"<[a-z][^<>]*>", re.I)
_HANDLER = re.compile(r"(\s)on([a-z]+\s*=)", re.I)
INJECTED_TAG = "injected-parameters"
"""The tag papermill gives the cell holding the parameters it injected."""
MAX_PAGE_BYTES = 2 * 1024 * 1024
"""A report page above this size is still written; the tests hold pages below it."""


def templates_dir() -> Path:
    """Return the shipped ``templates/`` folder (Jinja files and the stylesheet).

    Raises
    ------
    FileNotFoundError
        If the folder does not exist, naming the path looked for.
    """
    path = resources.shipped("templates")
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
    return _heading_anchors(neutralise(fragment), used=set(_PAGE_IDS))


def neutralise(fragment: str) -> str:
    """Make notebook HTML inert: nothing in it can load, embed or run anything.

    Scripts, frames, objects and embeds become a visible "omitted" note; ``link``, ``base``
    and ``meta`` tags go; ``on...=`` event handlers become ``data-blocked-on...``; and
    external or ``javascript:`` URLs move to ``data-blocked-url``. The page's
    Content-Security-Policy blocks the same things again; this keeps the HTML honest.

    Examples
    --------
    >>> neutralise('<p onclick="x()">a</p><script>alert(1)</script><a href="//x.org">b</a>')
    '<p data-blocked-onclick="x()">a</p><span class="output_omitted">[script omitted]</span><a data-blocked-url="//x.org">b</a>'
    """  # noqa: E501

    def omitted(match):
        return f'<span class="output_omitted">[{match.group(1).lower()} omitted]</span>'

    fragment = _ACTIVE_TAG.sub("", _ACTIVE_BLOCK.sub(omitted, fragment))
    fragment = _TAG.sub(lambda tag: _HANDLER.sub(r"\1data-blocked-on\2", tag.group(0)), fragment)
    return _EXTERNAL.sub(_block_url, fragment)


def _block_url(match) -> str:
    """Move one external URL attribute to ``data-blocked-url``, keeping it readable."""
    quote_char, quoted, bare = match.groups()
    url = quoted if quoted is not None else bare
    return f'data-blocked-url="{_html.escape(_html.unescape(url), quote=True)}"'


def markdown_text(value) -> str:
    r"""Return ``value`` as literal text for one cell of a Markdown table.

    HTML is escaped and Markdown punctuation backslash-escaped, so the text shows as typed
    in any Markdown renderer (Jupyter, nbconvert, GitHub); newlines become spaces.

    Examples
    --------
    >>> print(markdown_text("<b>x</b> | *y* & [z](javascript:1)"))
    &lt;b&gt;x&lt;/b&gt; \| \*y\* &amp; \[z\]\(javascript:1\)
    """
    text = " ".join(str(value).splitlines())
    text = re.sub(r"([\\`*_{}\[\]()#+!|~])", r"\\\1", text)
    return _html.escape(text, quote=False)


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
    body, headings = notebook_body(notebook)
    html_path = record.get("html") or "report.html"
    notebook_path = record.get("notebook")
    rerun = record.get("rerun") or {}
    error = _error(record.get("error"), notebook)
    parameters, injected = _parameters(notebook, record.get("parameters"))
    context = {
        "title": title,
        "status": status,
        "record_id": record.get("id") or "",
        "index_href": index_href(html_path),
        "notebook_href": _href(notebook_path, start=html_path) if notebook_path else None,
        "seconds": record.get("seconds"),
        "counts": _counts(row["status"] for row in checks),
        "error": error,
        "error_anchor": 'id="papermill-error-cell"' in body,
        "checks": _render(
            "checks.html.j2", checks=checks, show_where=any(row["where"] for row in checks)
        ),
        "rerun": _pick(rerun, ("at",)) | {"overrides": _items(rerun.get("overrides"))}
        if rerun
        else None,
        "parameters": parameters,
        "injected": injected,
        "toc": _report_toc(error=bool(error), rerun=bool(rerun), headings=headings),
        "n_code_cells": body.count('<details class="input">'),
        "notebook_body": Markup(body),
    }
    return _page(
        title=title,
        body=_render("report.html.j2", **context),
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
    shown = _pick(error, ("ename", "evalue", "cell_index", "traceback"))
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
            for name, value in _items(recorded)
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


@functools.lru_cache(maxsize=4)
def _script(name: str) -> tuple[Markup, str]:
    """One of nsdval's scripts in ``templates/`` and its CSP hash source (``'sha256-...'``)."""
    text = (templates_dir() / name).read_text(encoding="utf-8")
    if "</" in text:
        raise ValueError(f"{name} must not contain '</' (it is inlined in a <script>)")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
    return Markup(text), f"'sha256-{digest}'"


def content_security_policy(script_hashes=()) -> str:
    """The pages' Content-Security-Policy: nothing loads, only the listed scripts run.

    Examples
    --------
    >>> content_security_policy()[:40]
    "default-src 'none'; script-src 'none'; s"
    """
    scripts = " ".join(script_hashes) or "'none'"
    return (
        f"default-src 'none'; script-src {scripts}; style-src 'unsafe-inline'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


def _page(*, title: str, body: Markup, script: str | None = None, page_class: str = "") -> str:
    """Wrap ``body`` in the document shell with ``script`` (a file of ``templates/``) inlined."""
    code, digest = _script(script) if script else (None, None)
    csp = content_security_policy([digest] if digest else ())
    return str(
        _render(
            "page.html.j2", title=title, body=body, script=code, csp=csp, page_class=page_class
        )
    )


def _region_key(region: str) -> tuple[int, str]:
    known = region in REGIONS
    return (REGIONS.index(region) if known else len(REGIONS), "" if known else region)


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
        row["rank"] = _rank(row["status"])
        row["region_key"] = "{:02d}{}".format(*_region_key(row["region"])) if row["region"] else ""
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


def _benchmark_rows(benchmark: dict | None, reports: list[dict] | None = None) -> list[dict]:
    """Return reported vs replica score, raw and ceiling per region, with differences.

    Each row carries the status of the layout report's matching ``region-<metric>`` check
    (None when the run has none) and, on a region's first row, ``span`` (its row count) and
    the benchmark's identifier; later rows of the region have ``span`` 0.
    """
    verdicts = {
        (check.get("region"), check.get("name")): check.get("status")
        for rec in reports or []
        if not (rec.get("subject") or rec.get("region"))
        for check in rec.get("checks") or []
    }
    metrics = ("score", "raw", "ceiling")
    rows = []
    for region in sorted(benchmark or {}, key=_region_key):
        entry = benchmark[region] or {}
        reported = entry.get("reported") or {}
        replica = entry.get("replica") or {}
        for n, metric in enumerate(metrics):
            a, b = reported.get(metric), replica.get(metric)
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
            verdict = verdicts.get((region, f"region-{metric}"))
            rows.append(
                {
                    "region": region,
                    "metric": metric,
                    "reported": a,
                    "replica": b,
                    "diff": b - a if numeric else None,
                    "status": verdict if verdict in STATUSES else None,
                    "span": 0 if n else len(metrics),
                    "benchmark": entry.get("benchmark"),
                }
            )
    return rows


def _provenance(manifest: dict | None) -> dict | None:
    """Return the manifest fields shown on the index, or None without a manifest."""
    if manifest is None:
        return None
    inputs = manifest.get("inputs") or []
    total = sum(item.get("size") or 0 for item in inputs)
    versions = {"nsdval": manifest.get("nsdval_version"), "python": manifest.get("python")}
    commit = manifest.get("git_commit")
    if commit and manifest.get("git_dirty"):
        commit = f"{commit} (with uncommitted changes)"
    return {
        "command": manifest.get("command"),
        "nsdval_version": manifest.get("nsdval_version"),
        "git_commit": commit,
        "created": manifest.get("created"),
        "platform": manifest.get("platform"),
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
        "git_commit": (manifest or {}).get("git_commit"),
        "status": status,
        "report_counts": _counts(r["status"] for r in rows),
        "check_counts": _counts(s for r in rows for s in r["check_statuses"]),
        "layout": [r for r in rows if not (r["subject"] or r["region"])],
        "matrices": _matrices(rows),
        "reports": rows,
        "filters": _filters(rows),
        "benchmark": _benchmark_rows(results.get("benchmark"), results.get("reports")),
        "provenance": _provenance(manifest),
        "comparison": _comparison_link(results.get("comparison")),
    }
    return _page(
        title="nsdval validation run",
        body=_render("index.html.j2", **context),
        script="index.js",
        page_class="index",
    )


def _filters(rows: list[dict]) -> list[dict]:
    """The index's filter menus: ``{"field", "options": [(value, label)]}``, "" = any."""
    by_field = {
        "status": [s for s in STATUSES if any(r["status"] == s for r in rows)],
        "subject": sorted({r["subject"] for r in rows} - {""}),
        "region": sorted({r["region"] for r in rows} - {""}, key=_region_key),
        "template": sorted({r["template"] for r in rows} - {""}),
    }
    return [
        {
            "field": field,
            "options": [("", "any")]
            + [(v, f"{v} ({sum(r[field] == v for r in rows)})") for v in values],
        }
        for field, values in by_field.items()
    ]


def render_compare(*, comparison: dict) -> str:
    """Render a comparison of two runs (from ``nsdval.release.compare.compare_runs``) as a page.

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
