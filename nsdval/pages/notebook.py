"""An executed notebook as a safe HTML fragment: nbconvert's rendering, neutralised.

External ``src``/``href`` URLs in notebook output are disabled, scripts, frames and event
handlers removed, so markup that slips into a notebook's HTML output can neither run nor
fetch anything; headings get anchors for the table of contents.
"""

from __future__ import annotations

import functools
import html as _html
import re

from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor

from nsdval.pages.shell import dom_id, templates_dir

SUMMARY_TAG = "nsdval-summary"

PAGE_IDS = (
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


@functools.lru_cache(maxsize=1)
def _exporter() -> HTMLExporter:
    """Return the one nbconvert exporter, using nsdval's fragment template.

    Cells tagged ``nsdval-summary`` (the check table the runner puts at the top of the
    executed notebook) are dropped: the report page shows its own check table first.
    """
    exporter = HTMLExporter(
        extra_template_basedirs=[str(templates_dir() / "nbconvert")],
        template_name="nsdval",
        template_file="notebook.html.j2",  # index.html.j2 is the run's index page
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
    return heading_anchors(neutralise(fragment), used=set(PAGE_IDS))


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


def heading_anchors(fragment: str, *, used: set) -> tuple[str, list[dict]]:
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
