"""Render hand-built records and a tiny notebook; assert what must and must not appear."""

import base64
import copy
import hashlib
import re
from dataclasses import replace
from html.parser import HTMLParser

import jinja2
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from nsdval.analysis.record import ReportRecord, results_from_json, results_to_json
from nsdval.errors import InputError
from nsdval.pages.index import render_index
from nsdval.pages.notebook import (
    _EXTERNAL,
    INJECTED_TAG,
    SUMMARY_TAG,
    _block_url,
    markdown_text,
    notebook_body,
)
from nsdval.pages.report import render_report
from nsdval.pages.shell import (
    MAX_PAGE_BYTES,
    Markup,
    document,
    dom_id,
    environment,
    figure_html,
    fmt_value,
    index_href,
    status_class,
    templates_dir,
)

XSS = "<script>alert(1)</script>"
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
    "AAAABJRU5ErkJggg=="
)
EXTERNAL = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


@pytest.fixture
def notebook():
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell("# Assembly validation\n\n## 1. Region assembly -> Brain-Score\n\ntext"),
        new_code_cell(
            "print('hello')",
            execution_count=1,
            outputs=[
                new_output("stream", name="stdout", text="hello stdout\n"),
                new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
            ],
        ),
        new_markdown_cell(
            "## 2. Values\n\nsee [docs](https://example.org) ![x](http://ex.org/a.png)"
        ),
        new_markdown_cell("## 2. Values"),
        new_code_cell(
            "raise ValueError('boom')",
            execution_count=2,
            outputs=[
                new_output("error", ename="ValueError", evalue="boom", traceback=["VE: boom"])
            ],
        ),
    ]
    return nb


def check(name, status, **kw):
    base = {
        "section": "1. Region assembly -> Brain-Score",
        "name": name,
        "subject": "subj01",
        "region": "V4",
        "value": 0.0,
        "threshold": 1e-05,
        "status": status,
        "detail": f"detail of {name}",
    }
    return {**base, **kw}


def make_record(subject="subj01", region="V4", template="assembly_validation", **kw):
    rid = f"{subject}-{region}-{template}"
    rec = {
        "id": rid,
        "template": template,
        "subject": subject,
        "region": region,
        "status": "fail",
        "notebook": f"{subject}/{region}/{template}.ipynb",
        "html": f"{subject}/{region}/{template}.html",
        "seconds": 12.3,
        "parameters": {
            "nsd_root": "/data/nsd",
            "subject": 1,
            "region": region,
            "tolerance": 1e-05,
        },
        "checks": [
            check("train-values", "pass"),
            check("test-values", "warn", value=2e-6),
            check("stimulus-ids", "fail", value=3, threshold=0, detail="3 ids differ"),
        ],
        "error": None,
        "rerun": None,
    }
    return ReportRecord(**{**rec, **kw})


def structure_record():
    return make_record(
        subject=None,
        region=None,
        template="assembly_structure",
        id="assembly_structure",
        status="pass",
        notebook="assembly_structure.ipynb",
        html="assembly_structure.html",
        checks=[check("files-present", "pass", subject=None, region=None)],
    )


@pytest.fixture
def results():
    reports = [
        structure_record(),
        make_record(),
        make_record(region="V1", status="pass", checks=[check("train-values", "pass")]),
        make_record(subject="subj02", region="IT", status="warn", checks=[check("w", "warn")]),
        make_record(subject="subj02", region="hV4x", status="pass", checks=[]),
    ]
    return {
        "schema_version": 1,
        "nsdval_version": "0.1.0",
        "created": "2026-11-24T10:00:00+00:00",
        "nsd_root": "/data/nsd",
        "status": "fail",
        "reports": reports,
        "benchmark": {
            "V4": {
                "reported": {"score": 0.35, "raw": 0.38, "ceiling": 0.42},
                "replica": {"score": 0.36, "raw": 0.38, "ceiling": None},
            }
        },
    }


URL_ATTRS = {"src", "href", "srcset", "action", "formaction", "poster", "data", "background"}


class PageParser(HTMLParser):
    """Collect every URL-valued attribute, every <script> (attributes, text) and the CSP."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls, self.scripts, self.tags, self.csp = [], [], [], None
        self._script = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        self.urls += [(tag, k, v or "") for k, v in attrs.items() if k in URL_ATTRS]
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp = attrs.get("content")
        if tag == "script":
            self._script = [attrs, ""]

    def handle_data(self, data):
        if self._script is not None:
            self._script[1] += data

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append(tuple(self._script))
            self._script = None


def parse(page):
    parser = PageParser()
    parser.feed(page)
    parser.close()
    return parser


def is_external(url):
    url = url.strip().lower()
    return bool(re.match(r"^([a-z][a-z0-9+.-]*:)?//", url)) or (
        ":" in url.split("/")[0] and not url.startswith(("data:", "#"))
    )


def assert_self_contained(page):
    """No URL leaves the page's folder; scripts are inline and allowed by the CSP hash only."""
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    found = parse(page)
    assert [u for u in found.urls if is_external(u[2])] == []
    assert "link" not in found.tags and "iframe" not in found.tags
    if page.startswith("<!doctype html>"):
        assert found.csp and "default-src 'none'" in found.csp
        assert len(page.encode()) < MAX_PAGE_BYTES
    for attrs, text in found.scripts:
        assert "src" not in attrs
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in found.csp
    return found


def test_templates_dir_exists():
    assert (templates_dir() / "page.html.j2").is_file()
    assert (templates_dir() / "nbconvert" / "nsdval" / "conf.json").is_file()


def test_environment_cached_autoescape_strict():
    env = environment()
    assert env is environment()
    assert env.autoescape is True
    assert env.undefined is jinja2.StrictUndefined
    assert env.from_string("{{ x }}").render(x=XSS) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Checks", "checks"),
        ("1. Region assembly -> Brain-Score", "1-region-assembly-brain-score"),
        ("  V4  ", "v4"),
        ("Résumé été", "resume-ete"),
        (XSS, "script-alert-1-script"),
        ("", "section"),
        ("!!!", "section"),
        (42, "42"),
    ],
)
def test_dom_id_sanitises(text, expected):
    assert dom_id(text, set()) == expected


def test_dom_id_dedupes():
    used = {"checks"}
    got = [dom_id(t, used) for t in ("Checks", "checks", "a", "a 2", "a")]
    assert got == ["checks-2", "checks-3", "a", "a-2", "a-3"]
    assert used >= set(got)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "—"),
        (1e-05, "1.00e-05"),
        (0.0, "0"),
        (0.35, "0.35"),
        (2.5e7, "2.50e+07"),
        (412, "412"),
        (True, "True"),
        ("a", "a"),
        (float("nan"), "nan"),
        ([1, 2], "[1, 2]"),
    ],
)
def test_fmt_value(value, expected):
    assert fmt_value(value) == expected


def test_notebook_body_fragment(notebook):
    body, toc = notebook_body(notebook)
    assert "<html" not in body and "<body" not in body and "<style" not in body
    assert "<details" in body and "<summary>code</summary>" in body
    assert "print" in body and "hello stdout" in body
    assert f"data:image/png;base64,{PNG}" in body
    assert "In&nbsp;[" not in body and "Out[" not in body
    assert_self_contained(body)
    assert 'data-blocked-url="https://example.org"' in body
    assert [(t["title"], t["level"]) for t in toc] == [
        ("Assembly validation", 1),
        ("1. Region assembly -> Brain-Score", 2),
        ("2. Values", 2),
        ("2. Values", 2),
    ]
    ids = [t["id"] for t in toc]
    assert len(set(ids)) == len(ids) and ids[-1] == "2-values-2"
    for anchor in ids:
        assert f'id="{anchor}"' in body
        assert f'href="#{anchor}"' in body
        assert re.fullmatch(r"[a-z0-9-]+", anchor)


def test_report_order_and_content(notebook):
    page = render_report(notebook=notebook, record=make_record())
    assert page.startswith("<!doctype html>")
    assert "assembly_validation — subj01 · V4" in page
    assert_self_contained(page)
    checks_at, body_at = page.index('id="checks"'), page.index('class="notebook"')
    assert page.index('id="summary"') < checks_at < page.index('id="contents"')
    assert page.index('id="contents"') < page.index('id="parameters"') < body_at
    # worst first: fail, warn, pass
    order = [page.index(n) for n in ("stimulus-ids", "test-values", "train-values")]
    assert order == sorted(order)
    assert 'class="badge status-warn big"' not in page
    assert 'class="badge status-fail big"' in page
    assert "status-warn" in page and "2.00e-06" in page and "1.00e-05" in page
    assert 'href="../../index.html"' in page
    assert 'href="assembly_validation.ipynb"' in page
    assert "/data/nsd" in page
    assert 'id="errorbox"' not in page and 'id="rerun"' not in page


def test_report_warn_status(notebook):
    rec = make_record(status="warn", checks=[check("only-warn", "warn")])
    page = render_report(notebook=notebook, record=rec)
    assert 'class="badge status-warn big"' in page
    assert "only-warn" in page


def test_report_error_box_first_and_rerun(notebook):
    rec = make_record(
        status="error",
        error={
            "ename": "KeyError",
            "evalue": "'V9' <not found>",
            "cell_index": 7,
            "traceback": "Traceback...\nKeyError: 'V9'",
        },
        rerun={"at": "2026-11-25T09:30:00+00:00", "overrides": {"tolerance": 1e-06}},
    )
    page = render_report(notebook=notebook, record=rec)
    box = page.index('id="errorbox"')
    assert box < page.index('id="checks"')
    assert "KeyError" in page and "&#39;V9&#39; &lt;not found&gt;" in page
    assert "Failing cell index: <strong>7</strong>" in page
    assert '<pre class="traceback">Traceback...\nKeyError' in page
    rerun = page[page.index('id="rerun"') :]
    assert "2026-11-25T09:30:00+00:00" in rerun and "tolerance" in rerun and "1.00e-06" in rerun


def test_root_level_report_backlink(notebook):
    page = render_report(notebook=notebook, record=structure_record())
    assert 'href="index.html"' in page
    assert "<title>assembly_structure</title>" in page


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("assembly_structure.html", "index.html"),
        ("subj01/V4/assembly_validation.html", "../../index.html"),
        ("subj01/x.html", "../index.html"),
    ],
)
def test_index_href(path, expected):
    assert index_href(path) == expected


@pytest.mark.parametrize("path", ["/abs/x.html", "../x.html", "javascript:alert(1)", "a\\b.html"])
def test_bad_report_path_rejected(path):
    with pytest.raises(InputError, match="relative paths"):
        index_href(path)


def test_markup_is_escaped_everywhere(notebook, results):
    rec = make_record(
        region=XSS,
        html="subj01/V4/assembly_validation.html",
        parameters={"region": XSS},
        checks=[check(XSS, "fail", detail=XSS, value=XSS, section=XSS)],
        error={"ename": XSS, "evalue": XSS, "cell_index": 1, "traceback": XSS},
    )
    results["reports"].append(rec)
    results["nsd_root"] = XSS
    manifest = {"command": XSS, "parameters": {"p": XSS}, "packages": {XSS: "1"}}
    pages = [
        render_report(notebook=notebook, record=rec),
        render_index(results=results, manifest=manifest),
    ]
    for page in pages:
        assert XSS not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert_self_contained(page)


def test_unknown_status_rejected(notebook, results):
    rec = make_record(checks=[check("odd", "maybe<b>")])
    with pytest.raises(InputError, match=r"check 'odd' has status 'maybe<b>'; expected one of"):
        render_report(notebook=notebook, record=rec)
    with pytest.raises(
        ValueError, match="report 'subj01-V4-assembly_validation' has status 'unknown'"
    ):
        make_record(status="unknown")  # no record, so no page, holds an unknown status
    bad = results_to_json(results)
    bad["reports"][1]["status"] = "unknown"
    with pytest.raises(InputError, match=r"^run: results.json: report .* has status 'unknown'"):
        results_from_json(bad, source="run")
    assert status_class("maybe<b>") == "status-unknown"


def test_index_content(results):
    page = render_index(results=results)
    assert_self_contained(page)
    assert "2026-11-24T10:00:00+00:00" in page and "/data/nsd" in page and "0.1.0" in page
    assert 'class="badge status-fail big"' in page
    # structure report link
    assert 'href="assembly_structure.html"' in page
    # matrix: V1, V4, IT then others; cells link to the records' relative paths
    matrix = page[
        page.index('class="matrix"') : page.index("</table>", page.index('class="matrix"'))
    ]
    heads = re.findall(r"<th>([^<]+)</th>", matrix.split("</thead>")[0])
    assert heads == ["subject", "V1", "V4", "IT", "hV4x"]
    assert 'href="subj01/V4/assembly_validation.html">fail</a>' in matrix
    assert 'href="subj02/IT/assembly_validation.html">warn</a>' in matrix
    assert matrix.count("<td></td>") == 4
    # flat table: failing checks named, data attributes
    assert "stimulus-ids" in page and "test-values" in page
    row = re.search(r'<tr class="report-row"[^>]*data-subject="subj02"[^>]*data-region="IT"', page)
    assert row and 'data-status="warn"' in row.group(0)
    assert 'data-template="assembly_structure"' in page
    # worst first in the flat table
    assert page.index('data-status="fail"') < page.index('data-status="warn" data-subject')
    # benchmark: difference and missing values
    bench = page[page.index('id="benchmark"') :]
    assert "0.01" in bench and "—" in bench
    assert 'id="provenance"' not in page


def test_index_counts_and_provenance(results):
    manifest = {
        "command": "nsdval run --nsd-root /data/nsd",
        "nsdval_version": "0.1.0",
        "python": "3.11.9",
        "packages": {"numpy": "1.26.4"},
        "parameters": {"tolerance": 1e-05},
        "inputs": [{"path": "a", "size": 1024, "sha256": "x"}, {"path": "b", "size": 1024}],
        "timings": {"total_seconds": 61.5},
    }
    page = render_index(results=results, manifest=manifest)
    counts = page[page.index('class="counts-table"') : page.index("</table>")]
    nums = re.findall(r'<td class="num">(\d+)</td>', counts)
    # reports: error, fail, warn, pass; then checks
    assert nums == ["0", "1", "1", "3", "0", "1", "2", "3"]
    prov = page[page.index('id="provenance"') :]
    assert "nsdval run --nsd-root /data/nsd" in prov
    assert "2 input files, 2.0 KiB" in prov and "61.5" in prov
    assert "numpy" in prov and "1.26.4" in prov and "1.00e-05" in prov
    assert "sha256" not in prov


def test_index_shows_each_family_with_its_grid_matrices_and_benchmark(results):
    surface = [
        make_record(
            id="surface_4subj-assembly_structure",
            subject=None,
            region=None,
            template="assembly_structure",
            family="surface_4subj",
            status="pass",
            html="surface_4subj/structure/assembly_structure.html",
            checks=[check("files-present", "pass", subject=None, region=None)],
        ),
        make_record(
            id="surface_4subj-subj05-V1-assembly_validation",
            subject="subj05",
            region="V1",
            family="surface_4subj",
            status="warn",
            html="surface_4subj/subj05/V1/assembly_validation.html",
            checks=[check("test-nan-filled", "warn")],
        ),
    ]
    results["reports"] = [*results["reports"], *surface]
    surface_bench = {"IT": {"reported": {"score": 0.28}, "replica": {"score": 0.28}}}
    results["families"] = {"volume_8subj": results["benchmark"], "surface_4subj": surface_bench}
    page = render_index(results=results)
    start = page.index('class="families"')
    grid = page[start : page.index("</table>", start)]
    heads = re.findall(r"<th>([^<]+)</th>", grid)
    assert heads == ["space", "8subj", "4subj", "volume", "surface"]
    assert re.search(r'<td data-family="surface_4subj"><a [^>]*href="#surface_4subj-family"', grid)
    assert re.search(r'<td data-family="volume_8subj"><a [^>]*href="#family"[^>]*>fail', grid)
    assert grid.count("<td></td>") == 2  # neither volume 4subj nor surface 8subj ran
    # each family's sections: the volume 8-subject ones keep their ids
    for anchor in ("family", "structure", "matrix-1", "benchmark"):
        assert f'id="{anchor}"' in page and f'id="surface_4subj-{anchor}"' in page
    matrix = page[page.index('data-family="surface_4subj">\n<thead>') :]
    matrix = matrix[: matrix.index("</table>")]
    assert re.findall(r"<th>([^<]+)</th>", matrix) == ["subject", "V1", "subj05"]
    assert 'href="surface_4subj/subj05/V1/assembly_validation.html">warn</a>' in matrix
    bench = page[page.index('id="surface_4subj-benchmark"') :]
    bench = bench[: bench.index("</table>")]
    assert 'data-region="IT"' in bench and 'data-region="V4"' not in bench
    row = re.search(r'<tr class="report-row"[^>]*data-subject="subj05"[^>]*>', page).group(0)
    assert 'data-family="surface_4subj"' in row


def test_index_shows_the_region_level_rdm_reports_and_their_scores(results):
    numbers = {"score": 0.5, "raw": 0.2, "ceiling": 0.4, "lower_bound_loo": 0.3}
    rdm = make_record(
        id="V4-benchmark_rdm",
        subject=None,
        region="V4",
        template="benchmark_rdm",
        status="fail",
        html="rdm/V4/benchmark_rdm.html",
        checks=[check("rdm-raw", "pass", subject=None), check("rdm-score", "fail", subject=None)],
        benchmark={
            "V4": {
                "benchmark": "Allen2022_fmri.V4-rdm",
                "reported": {**numbers, "score": 0.25},
                "replica": numbers,
            }
        },
    )
    results["reports"] = [*results["reports"], rdm]
    page = render_index(results=results)
    start = page.index('<table class="region-reports" data-template="benchmark_rdm"')
    cells = page[start : page.index("</table>", start)]
    assert re.findall(r"<th>([^<]+)</th>", cells) == ["V4"]
    assert 'href="rdm/V4/benchmark_rdm.html">fail</a>' in cells
    start = page.index('id="benchmark-rdm"')
    table = page[start : page.index("</table>", start)]
    rows = re.findall(r'<tr data-region="V4" data-metric="(\w+)"([^>]*)>', table)
    assert [m for m, _ in rows] == ["score", "raw", "ceiling", "lower_bound_loo"]
    assert "status-fail" in rows[0][1] and "status-pass" in rows[1][1]
    assert "Allen2022_fmri.V4-rdm" in table and "0.25" in table
    # the region-level report is neither in the subject matrix nor the structure list
    assert (
        'href="rdm/V4/benchmark_rdm.html">fail</a>'
        not in page[: page.index('<table class="region-reports"')]
    )


def test_index_of_one_family_has_no_families_grid(results):
    page = render_index(results=results)
    assert 'class="families"' not in page and 'id="family"' in page


def test_index_without_benchmark_or_reports(results):
    empty = copy.deepcopy(results)
    del empty["benchmark"]
    empty["reports"] = []
    empty["status"] = "pass"
    page = render_index(results=empty)
    assert 'id="benchmark"' not in page and 'class="matrix"' not in page


def test_figure_html():
    fig = figure_html(png_base64=PNG, caption=f"cap {XSS}")
    assert f'src="data:image/png;base64,{PNG}"' in fig
    assert "&lt;script&gt;" in fig and XSS not in fig
    with pytest.raises(ValueError, match="base64"):
        figure_html(png_base64='x" onerror="y', caption="c")


def test_partial_error_and_rerun(notebook):
    rec = make_record(status="error", error={"ename": "OSError"}, rerun={"at": None}, seconds=None)
    page = render_report(notebook=notebook, record=rec)
    assert "OSError" in page and 'class="traceback"' not in page
    assert "without overrides" in page and "ran in" not in page


def test_index_marks_rerun_reports_with_time_and_overrides():
    record = ReportRecord(
        id="subj01-V4-assembly_validation",
        template="assembly_validation",
        subject="subj01",
        region="V4",
        status="pass",
        notebook="subj01/V4/assembly_validation.ipynb",
        html="subj01/V4/assembly_validation.html",
        seconds=1.0,
        rerun={"at": "2026-11-24T10:00:00+00:00", "overrides": {"tolerance": 1e-06}},
    )
    page = render_index(
        results={
            "schema_version": 1,
            "nsdval_version": "0",
            "created": "c",
            "nsd_root": "/r",
            "status": "pass",
            "reports": [record],
        }
    )
    assert "re-run 2026-11-24T10:00:00+00:00: tolerance=1.00e-06" in page


# --- offline, size and escaping, checked with an HTML parser --------------------------------

PWNED = "<script>window.__pwned=1</script>"


def hostile_notebook():
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell(
            "# Title\n\n<img src=https://cdn.example.org/a.png> [x](//evil.example/b)\n\n"
            '<link rel="stylesheet" href="http://cdn.example.org/s.css">'
        ),
        new_code_cell(
            "display(HTML(...))",
            outputs=[
                new_output(
                    "display_data",
                    data={
                        "text/html": '<script src="https://cdn.jsdelivr.net/npm/require.js">'
                        "</script><iframe src='http://x.org'></iframe>"
                        '<img srcset="http://a.org/x.png 2x"><video poster=//b.org/p.png>'
                    },
                )
            ],
        ),
    ]
    return nb


def test_pages_have_no_external_url_and_only_hashed_scripts(notebook, results):
    pages = {
        "report": render_report(notebook=notebook, record=make_record()),
        "hostile": render_report(notebook=hostile_notebook(), record=make_record()),
        "index": render_index(results=results),
    }
    for name, page in pages.items():
        found = assert_self_contained(page)
        assert len(found.scripts) == 1, name  # nsdval's own, inline
        assert "require" not in found.scripts[0][1].lower() and "mathjax" not in page.lower()
    hostile = pages["hostile"]
    assert "[script omitted]" in hostile and "[iframe omitted]" in hostile
    assert 'data-blocked-url="//b.org/p.png"' in hostile  # kept readable, inert
    assert 'data-blocked-url="https://cdn.example.org/a.png"' in hostile


def test_csp_forbids_loads_and_foreign_scripts(results):
    found = parse(render_index(results=results))
    policy = dict(part.strip().split(" ", 1) for part in found.csp.split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["img-src"] == "data:"
    assert re.fullmatch(r"'sha256-[A-Za-z0-9+/=]+'", policy["script-src"])
    assert "unsafe-inline" not in policy["script-src"]
    compare_like = parse(document(title="t", body=Markup("<p>x</p>")))
    assert "script-src 'none'" in compare_like.csp and compare_like.scripts == []


def test_report_size_stays_under_two_megabytes(notebook):
    big = copy.deepcopy(notebook)
    # forty 40 kB figures: a realistic upper end for one report
    figure = new_output("display_data", data={"image/png": "A" * 40_000, "text/plain": "f"})
    big.cells += [new_code_cell("plot()", outputs=[figure]) for _ in range(40)]
    page = render_report(notebook=big, record=make_record())
    assert len(page.encode()) < MAX_PAGE_BYTES


@pytest.mark.parametrize(
    ("attr", "expected"),
    [
        (
            '<a href="https://x.org/a?b=1&amp;c">',
            '<a data-blocked-url="https://x.org/a?b=1&amp;c">',
        ),
        ("<img src=//cdn.x/y.png>", '<img data-blocked-url="//cdn.x/y.png">'),
        ("<img srcset='http://a/b 2x'>", '<img data-blocked-url="http://a/b 2x">'),
        ('<a href="file:///etc/passwd">', '<a data-blocked-url="file:///etc/passwd">'),
        ('<a data-href="https://x">', '<a data-href="https://x">'),
        ('<a href="#x">', '<a href="#x">'),
        ('<img src="data:image/png;base64,AA">', '<img src="data:image/png;base64,AA">'),
        ('<a href="../../index.html">', '<a href="../../index.html">'),
    ],
)
def test_external_urls_blocked(attr, expected):
    assert _EXTERNAL.sub(_block_url, attr) == expected


def test_data_markup_renders_as_text_everywhere(results):
    rec = make_record(
        subject="<b>subj</b>",
        region=PWNED,
        checks=[check(PWNED, "fail", detail="<b>bold</b>", value=PWNED, threshold="<b>t</b>")],
        error={"ename": PWNED, "evalue": "<b>e</b>", "cell_index": PWNED, "cell_source": PWNED},
    )
    results["reports"].append(rec)
    results["benchmark"][PWNED] = {"reported": {"score": PWNED}, "replica": {}}
    manifest = {"command": PWNED, "git_commit": "<b>c</b>", "platform": PWNED, "inputs": []}
    nb = new_notebook()
    for page in (
        render_report(notebook=nb, record=rec),
        render_index(results=results, manifest=manifest),
    ):
        found = assert_self_contained(page)
        assert PWNED not in page and "<b>" not in page
        assert "b" not in found.tags
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
        assert len(found.scripts) == 1


def test_error_box_shows_the_failing_cell_source(notebook):
    nb = copy.deepcopy(notebook)
    nb.cells[4].metadata["papermill"] = {"exception": True}
    rec = make_record(
        status="error",
        error={
            "ename": "ValueError",
            "evalue": "boom",
            "cell_index": 4,
            "traceback": "\x1b[0;31mVE\x1b[0m",
        },
    )
    page = render_report(notebook=nb, record=rec)
    box = page[page.index('id="errorbox"') : page.index("</section>")]
    assert page.index('id="errorbox"') < page.index('class="crumbs"') < page.index('id="summary"')
    assert "raise ValueError(&#39;boom&#39;)" in box and 'class="cell-source"' in box
    assert '<pre class="traceback">VE</pre>' in box  # ANSI colour codes stripped
    # the record's own cell_source wins; without either, no source block
    rec = replace(rec, error={**rec.error, "cell_source": "x = <1>"})
    assert "x = &lt;1&gt;" in render_report(notebook=nb, record=rec)
    rec = replace(rec, error={k: v for k, v in rec.error.items() if k != "cell_source"})
    assert 'class="cell-source"' not in render_report(notebook=new_notebook(), record=rec)


def test_contents_lists_page_sections_and_notebook_headings(notebook):
    page = render_report(notebook=notebook, record=make_record(rerun={"at": "t"}))
    toc = page[page.index('id="contents"') : page.index("</nav>", page.index('id="contents"'))]
    targets = re.findall(r'href="#([^"]+)"', toc)
    assert targets[:4] == ["checks", "rerun", "parameters", "notebook"]
    assert "assembly-validation" in targets and "2-values-2" in targets
    for target in targets:
        assert f'id="{target}"' in page


def test_injected_parameters_listed_beside_defaults(notebook):
    nb = copy.deepcopy(notebook)
    defaults = new_code_cell(
        '# Parameters\nregion: str = "V4"\nsubject: int = 1\ntolerance = 1e-5'
    )
    defaults.metadata["tags"] = ["parameters"]
    injected = new_code_cell(f'# Parameters\nregion = "{XSS}"\nsubject = 3\nextra = [1, 2]\n')
    injected.metadata["tags"] = [INJECTED_TAG]
    nb.cells[1:1] = [defaults, injected]
    page = render_report(notebook=nb, record=make_record())
    params = page[
        page.index('id="parameters"') : page.index("</section>", page.index('id="parameters"'))
    ]
    rows = re.findall(r'<tr class="origin-(\w+)"><th>(\w+)</th><td><code>(.*?)</code>', params)
    assert rows == [
        ("injected", "region", "&#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;"),
        ("injected", "subject", "3"),
        ("default", "tolerance", "1e-5"),
        ("injected", "extra", "[1, 2]"),
    ]
    assert "injected-parameters" in params


def test_index_filters_and_sort_keys(results):
    page = render_index(results=results)
    found = parse(page)
    assert 'id="report-filters" class="filters" hidden' in page
    menus = dict(re.findall(r'<select name="(\w+)" data-filter="\w+">(.*?)</select>', page))
    assert set(menus) == {"status", "subject", "region", "template", "family"}
    assert re.findall(r'<option value="([^"]*)"', menus["family"]) == ["", "volume_8subj"]
    assert re.findall(r'<option value="([^"]*)"', menus["status"]) == ["", "fail", "warn", "pass"]
    assert re.findall(r'<option value="([^"]*)"', menus["region"]) == [
        "",
        "V1",
        "V4",
        "IT",
        "hV4x",
    ]
    assert "subj02 (2)" in menus["subject"]
    assert len(re.findall(r'<th data-sort="\w+"', page)) == 7
    row = re.search(r'<tr class="report-row"[^>]*data-region="IT"[^>]*>', page).group(0)
    assert (
        'data-rank="2"' in row and 'data-region-key="03"' in row and 'data-seconds="12.3"' in row
    )
    assert found.tags.count("select") == 5


def test_index_provenance_and_benchmark_checks(results):
    layout = results["reports"][0]
    benchmark_check = check(
        "region-score", "fail", subject=None, region="V4", section="7. Benchmark"
    )
    results["reports"][0] = replace(layout, checks=[*layout.checks, benchmark_check])
    manifest = {
        "command": "nsdval run",
        "nsdval_version": "0.1.0",
        "git_commit": "0123456789abcdef",
        "git_dirty": True,
        "created": "2026-11-24T10:00:00+00:00",
        "inputs": [{"path": "a", "size": 1}],
    }
    page = render_index(results=results, manifest=manifest)
    prov = page[page.index('id="provenance"') :]
    for text in (
        "nsdval run",
        "0.1.0",
        "0123456789abcdef (with uncommitted changes)",
        "/data/nsd",
    ):
        assert text in prov
    assert "1 input files" in prov
    assert "commit <code>0123456789ab</code>" in page
    bench = page[
        page.index('id="benchmark"') : page.index("</table>", page.index('id="benchmark"'))
    ]
    assert '<th rowspan="3" class="region">V4' in bench
    score = re.search(r'<tr data-region="V4" data-metric="score"[^>]*>', bench).group(0)
    assert 'class="status-fail"' in score


def test_markdown_text_escapes_html_and_markdown():
    assert markdown_text("<b>x</b>\n|y|") == "&lt;b&gt;x&lt;/b&gt; \\|y\\|"
    assert markdown_text("a & b") == "a &amp; b"
    assert markdown_text(None) == "None"


def test_summary_cell_escapes_data():
    from nbformat.v4 import new_notebook as nb_new

    from nsdval.run import execution

    nb = nb_new()
    nb.cells = [new_markdown_cell("# T"), new_code_cell("x = 1")]
    record = make_record(
        status="error",
        checks=[check(PWNED, "fail", detail="<b>bold</b> | *x*")],
        error={"ename": "<b>E</b>", "evalue": PWNED, "cell_index": 1},
    )
    execution.insert_summary(nb, record)
    text = nb.cells[1].source
    assert nb.cells[1].metadata["tags"] == [SUMMARY_TAG]
    assert "<" not in text.replace("&lt;", "")
    assert "&lt;script&gt;window.\\_\\_pwned=1&lt;/script&gt;" in text
    assert "&lt;b&gt;bold&lt;/b&gt; \\| \\*x\\*" in text
    # rendered by nbconvert's Markdown renderer: text, no elements
    from nbconvert.filters.markdown import markdown2html

    rendered = markdown2html(text)
    assert "<script" not in rendered and "<b>" not in rendered
    assert "&lt;script&gt;" in rendered
