"""Render hand-built records and a tiny notebook; assert what must and must not appear."""

import copy
import re

import jinja2
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from nsdval import html
from nsdval.errors import InputError

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
    return {**rec, **kw}


def layout_record():
    return make_record(
        subject=None,
        region=None,
        template="assembly_layout",
        id="assembly_layout",
        status="pass",
        notebook="assembly_layout.ipynb",
        html="assembly_layout.html",
        checks=[check("files-present", "pass", subject=None, region=None)],
    )


@pytest.fixture
def results():
    reports = [
        layout_record(),
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


def assert_self_contained(page):
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()


def test_templates_dir_exists():
    assert (html.templates_dir() / "page.html.j2").is_file()
    assert (html.templates_dir() / "nbconvert" / "nsdval" / "conf.json").is_file()


def test_environment_cached_autoescape_strict():
    env = html.environment()
    assert env is html.environment()
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
    assert html.dom_id(text, set()) == expected


def test_dom_id_dedupes():
    used = {"checks"}
    got = [html.dom_id(t, used) for t in ("Checks", "checks", "a", "a 2", "a")]
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
    assert html.fmt_value(value) == expected


def test_notebook_body_fragment(notebook):
    body, toc = html.notebook_body(notebook)
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
    page = html.render_report(notebook=notebook, record=make_record())
    assert page.startswith("<!doctype html>")
    assert "assembly_validation — subj01 · V4" in page
    assert_self_contained(page)
    checks_at, body_at = page.index('id="checks"'), page.index('class="notebook"')
    assert checks_at < page.index('id="parameters"') < page.index('id="contents"') < body_at
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
    page = html.render_report(notebook=notebook, record=rec)
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
    page = html.render_report(notebook=notebook, record=rec)
    box = page.index('id="errorbox"')
    assert box < page.index('id="checks"')
    assert "KeyError" in page and "&#39;V9&#39; &lt;not found&gt;" in page
    assert "Failing cell index: <strong>7</strong>" in page
    assert '<pre class="traceback">Traceback...\nKeyError' in page
    rerun = page[page.index('id="rerun"') :]
    assert "2026-11-25T09:30:00+00:00" in rerun and "tolerance" in rerun and "1.00e-06" in rerun


def test_root_level_report_backlink(notebook):
    page = html.render_report(notebook=notebook, record=layout_record())
    assert 'href="index.html"' in page
    assert "<title>assembly_layout</title>" in page


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("assembly_layout.html", "index.html"),
        ("subj01/V4/assembly_validation.html", "../../index.html"),
        ("subj01/x.html", "../index.html"),
    ],
)
def test_index_href(path, expected):
    assert html.index_href(path) == expected


@pytest.mark.parametrize("path", ["/abs/x.html", "../x.html", "javascript:alert(1)", "a\\b.html"])
def test_bad_report_path_rejected(path):
    with pytest.raises(InputError, match="relative paths"):
        html.index_href(path)


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
        html.render_report(notebook=notebook, record=rec),
        html.render_index(results=results, manifest=manifest),
    ]
    for page in pages:
        assert XSS not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert_self_contained(page)


def test_unknown_status_rejected(notebook, results):
    rec = make_record(checks=[check("odd", "maybe<b>")])
    with pytest.raises(InputError, match=r"check 'odd' has status 'maybe<b>'; expected one of"):
        html.render_report(notebook=notebook, record=rec)
    results["reports"].append(make_record(status="unknown"))
    with pytest.raises(ValueError, match="the report has status 'unknown'"):
        html.render_index(results=results)
    assert html.status_class("maybe<b>") == "status-unknown"


def test_index_content(results):
    page = html.render_index(results=results)
    assert_self_contained(page)
    assert "2026-11-24T10:00:00+00:00" in page and "/data/nsd" in page and "0.1.0" in page
    assert 'class="badge status-fail big"' in page
    # layout report link
    assert 'href="assembly_layout.html"' in page
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
    assert 'data-template="assembly_layout"' in page
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
    page = html.render_index(results=results, manifest=manifest)
    counts = page[page.index('class="counts-table"') : page.index("</table>")]
    nums = re.findall(r'<td class="num">(\d+)</td>', counts)
    # reports: error, fail, warn, pass; then checks
    assert nums == ["0", "1", "1", "3", "0", "1", "2", "3"]
    prov = page[page.index('id="provenance"') :]
    assert "nsdval run --nsd-root /data/nsd" in prov
    assert "2 input files, 2.0 KiB" in prov and "61.5" in prov
    assert "numpy" in prov and "1.26.4" in prov and "1.00e-05" in prov
    assert "sha256" not in prov


def test_index_without_benchmark_or_reports(results):
    empty = copy.deepcopy(results)
    del empty["benchmark"]
    empty["reports"] = []
    empty["status"] = "pass"
    page = html.render_index(results=empty)
    assert 'id="benchmark"' not in page and 'class="matrix"' not in page


def test_figure_html():
    fig = html.figure_html(png_base64=PNG, caption=f"cap {XSS}")
    assert f'src="data:image/png;base64,{PNG}"' in fig
    assert "&lt;script&gt;" in fig and XSS not in fig
    with pytest.raises(ValueError, match="base64"):
        html.figure_html(png_base64='x" onerror="y', caption="c")


def test_partial_error_and_rerun(notebook):
    rec = make_record(status="error", error={"ename": "OSError"}, rerun={"at": None}, seconds=None)
    page = html.render_report(notebook=notebook, record=rec)
    assert "OSError" in page and 'class="traceback"' not in page
    assert "without overrides" in page and "ran in" not in page


def test_index_marks_rerun_reports_with_time_and_overrides():
    record = {
        "id": "subj01-V4-assembly_validation",
        "template": "assembly_validation",
        "subject": "subj01",
        "region": "V4",
        "status": "pass",
        "notebook": "subj01/V4/assembly_validation.ipynb",
        "html": "subj01/V4/assembly_validation.html",
        "seconds": 1.0,
        "parameters": {},
        "checks": [],
        "error": None,
        "rerun": {"at": "2026-11-24T10:00:00+00:00", "overrides": {"tolerance": 1e-06}},
    }
    page = html.render_index(
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
