"""The shell every page shares.

The Jinja environment, value formatting, statuses, links, the inlined scripts and the
Content-Security-Policy, and the page itself.

Every page works offline: the stylesheet and the few lines of JavaScript are inlined, images
are ``data:`` URIs, and a Content-Security-Policy ``<meta>`` forbids every load and every
script but nsdval's own (allowed by hash).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import posixpath
import re
import unicodedata
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from nsdval import resources
from nsdval.analysis import checks
from nsdval.analysis.record import ReportRecord
from nsdval.errors import InputError

STATUSES = tuple(reversed(checks.STATUSES))
"""Every status, worst first; the order of sorting and of "worst"."""

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


def render(name: str, **context) -> Markup:
    """Render one template of ``templates/`` as a trusted fragment."""
    return Markup(environment().get_template(name).render(**context))


def figure_html(*, png_base64: str, caption: str) -> Markup:
    """Render a ``<figure>`` from base64 PNG text and a plain-text (escaped) caption."""
    if not re.fullmatch(r"[A-Za-z0-9+/=\s]*", png_base64):
        raise ValueError("png_base64 must be base64 text")
    return render("figure.html.j2", png_base64="".join(png_base64.split()), caption=caption)


def known_status(value, *, source: str, what: str) -> str:
    """Return ``value`` if it is a known status, else raise naming where it came from."""
    if value not in STATUSES:
        raise InputError(source, f"{what} has status {value!r}; expected one of {STATUSES}")
    return value


def status_rank(status: str) -> int:
    """Position of a status in :data:`STATUSES` (0: the worst)."""
    return STATUSES.index(status)


def _inside(path) -> str:
    """Return ``path`` if it is relative and inside the run folder, else raise."""
    text = str(path)
    parts = PurePosixPath(text).parts
    if not text or text.startswith("/") or ".." in parts or ":" in text or "\\" in text:
        raise InputError(text, "report paths must be relative paths inside the run folder")
    return text


def href(path, *, start: str = "") -> str:
    """Return the URL of run-relative ``path`` as seen from the page at run-relative ``start``."""
    folder = posixpath.dirname(_inside(start)) if start else ""
    return quote(posixpath.relpath(_inside(path), folder or "."))


def index_href(html_path: str) -> str:
    """Return the relative link from a report at ``html_path`` back to the run's index.

    Examples
    --------
    >>> index_href("subj01/V4/assembly_validation.html"), index_href("assembly_structure.html")
    ('../../index.html', 'index.html')
    """
    depth = len(PurePosixPath(_inside(html_path)).parent.parts)
    return "../" * depth + "index.html"


def check_rows(record: ReportRecord, source: str) -> list[dict]:
    """Return the record's checks as display rows, worst first, keeping order within status."""
    home = (record.subject, record.region)
    rows = []
    for check in record.checks:
        row = {key: check.get(key) or "" for key in ("section", "name", "detail")}
        row["value"], row["threshold"] = check.get("value"), check.get("threshold")
        row["status"] = known_status(
            check.get("status"), source=source, what=f"check {row['name']!r}"
        )
        where = (check.get("subject"), check.get("region"))
        row["where"] = " · ".join(p for p in where if p) if where != home else ""
        rows.append(row)
    return sorted(rows, key=lambda row: status_rank(row["status"]))


def status_counts(statuses) -> list[dict]:
    """Return ``{"status", "n"}`` for every status, worst first."""
    statuses = list(statuses)
    return [{"status": s, "n": statuses.count(s)} for s in STATUSES]


def pick(mapping: dict | None, keys: tuple) -> dict | None:
    """Return ``mapping`` restricted to ``keys`` (missing ones None), or None if it is empty."""
    return {key: mapping.get(key) for key in keys} if mapping else None


def items(mapping) -> list[tuple[str, object]]:
    """``(key as text, value)`` pairs of a mapping (``None``: none)."""
    return [(str(k), v) for k, v in (mapping or {}).items()]


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


def document(*, title: str, body: Markup, script: str | None = None, page_class: str = "") -> str:
    """Wrap ``body`` in the document shell with ``script`` (a file of ``templates/``) inlined."""
    code, digest = _script(script) if script else (None, None)
    csp = content_security_policy([digest] if digest else ())
    return str(
        render("page.html.j2", title=title, body=body, script=code, csp=csp, page_class=page_class)
    )
