"""The run's pages in headless Chromium: index, filters, sorting, links, reports, escaping.

Headless Chromium for the browser tests: one tiny run per session, one browser per session.

Chromium is Debian's ``/usr/bin/chromium`` (``make browser-deps`` installs it), driven by
Playwright; ``playwright install`` is never used. Without Chromium the tests fail, not skip.

The fixtures live in this module, not in a conftest.py: a conftest here would be
collected before tests/conftest.py and clash with it under --doctest-modules.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from playwright.sync_api import expect

from nsdval.analysis.record import ReportRecord
from nsdval.pages.index import render_index
from nsdval.pages.report import render_report
from nsdval.pages.shell import MAX_PAGE_BYTES, STATUSES

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
PLANTED = "planted <b>failure</b> for the browser tests"
"""The message of the exception planted in the IT report, markup included on purpose."""


def _plant_error(notebooks: Path) -> None:
    """Make the copied assembly_validation template raise for region IT after its parameters."""
    path = notebooks / "assembly_validation.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(
        at + 1,
        nbformat.v4.new_code_cell(f'if region == "IT":\n    raise RuntimeError({PLANTED!r})'),
    )
    nbformat.write(nb, str(path))


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    """A finished tiny run: the layout and subj01 V4 fail (score-wrong), IT errors, V1 passes."""
    from nsdval.synth import synthesize

    base = tmp_path_factory.mktemp("browser")
    tree = synthesize(base / "nsd", preset="tiny", seed=0, fault="score-wrong")
    notebooks = base / "notebooks"
    shutil.copytree(REPO / "notebooks", notebooks)
    _plant_error(notebooks)
    out = base / "out"
    command = [
        sys.executable,
        "-m",
        "nsdval",
        "run",
        "--nsd-root",
        str(tree),
        "--out",
        str(out),
        "--subjects",
        "1",
        "--regions",
        "V1,V4,IT",
        "--reports",
        "structure,validation",
        "--jobs",
        "2",
        "--notebooks",
        str(notebooks),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (out / "index.html").is_file(), done.stdout + done.stderr
    return out


@pytest.fixture(scope="session")
def planted():
    return PLANTED


@pytest.fixture(scope="session")
def results(run_dir):
    return json.loads((run_dir / "results.json").read_text())


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: run `make browser-deps`"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """A fresh browser page that records every request and every script error."""

    def __init__(self, context):
        self.context = context
        self.requests, self.errors = [], []
        context.route("**/*", self._route)
        self.page = context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on(
            "console",
            lambda msg: self.errors.append(msg.text) if msg.type == "error" else None,
        )

    def _route(self, route):
        url = route.request.url
        self.requests.append(url)
        if url.startswith(("file://", "data:")) or url.startswith(
            ("http://localhost", "http://127.0.0.1")
        ):
            route.continue_()
        else:
            route.abort()

    def open(self, path: Path):
        self.page.goto(Path(path).resolve().as_uri())
        self.page.wait_for_load_state("load")
        return self.page

    def external_requests(self):
        return [u for u in self.requests if not u.startswith(("file://", "data:"))]


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield Page(context)
    context.close()


pytestmark = [pytest.mark.slow, pytest.mark.browser]

PWNED = "<script>window.__pwned=1</script>"
BOLD = "<b>bold</b>"


def visible_ids(pg):
    return pg.eval_on_selector_all(
        "#reports-table tbody tr.report-row",
        "rows => rows.filter(r => !r.hidden).map(r => r.dataset.id)",
    )


def by_status(results, status):
    return {r["id"] for r in results["reports"] if r["status"] == status}


def test_run_has_every_status_but_warn(results):
    statuses = {r["id"]: r["status"] for r in results["reports"]}
    assert statuses == {
        "assembly_structure": "fail",
        "subj01-V1-assembly_validation": "pass",
        "subj01-V4-assembly_validation": "fail",
        "subj01-IT-assembly_validation": "error",
    }


def test_index_renders_with_its_script(page, run_dir, results):
    pg = page.open(run_dir / "index.html")
    assert pg.title() == "nsdval validation run"
    assert pg.locator("h1").inner_text() == "nsdval validation run"
    assert pg.locator("#summary .badge.big").text_content() == results["status"]
    # the script ran: filters shown, sort buttons shown, count written
    assert pg.locator("#report-filters").is_visible()
    assert pg.locator("#reports-shown").inner_text() == "4 of 4 reports"
    assert pg.locator("th[data-sort] button.sort").count() == 7
    assert page.errors == []
    # provenance and benchmark summary
    prov = pg.locator("#provenance").inner_text()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["command"] in prov and manifest["git_commit"] in prov
    assert f"{len(manifest['inputs'])} input files" in prov and results["nsd_root"] in prov
    bench = pg.locator("table.benchmark tbody tr")
    assert bench.count() == 3 * len(results["benchmark"])
    assert (
        pg.locator(
            'table.benchmark tr[data-region="V4"][data-metric="score"] .badge'
        ).text_content()
        == "fail"
    )


def test_status_matrix_equals_results(page, run_dir, results):
    pg = page.open(run_dir / "index.html")
    cells = pg.eval_on_selector_all(
        "table.matrix",
        """tables => tables.flatMap(t => {
            const regions = [...t.tHead.rows[0].cells].slice(1).map(c => c.textContent);
            return [...t.tBodies[0].rows].flatMap(row => [...row.cells].slice(1).map((c, i) => ({
                template: t.dataset.template, subject: row.cells[0].textContent,
                region: regions[i], status: c.textContent,
                href: c.querySelector('a')?.getAttribute('href')
            })).filter(c => c.status));
        })""",
    )
    expected = [
        {
            "template": r["template"],
            "subject": r["subject"],
            "region": r["region"],
            "status": r["status"],
            "href": r["html"],
        }
        for r in results["reports"]
        if r["subject"]
    ]
    key = lambda c: (c["template"], c["subject"], c["region"])  # noqa: E731
    assert sorted(cells, key=key) == sorted(expected, key=key)
    rows = pg.eval_on_selector_all(
        "#reports-table tbody tr", "rows => rows.map(r => [r.dataset.id, r.dataset.status])"
    )
    assert sorted(rows) == sorted([r["id"], r["status"]] for r in results["reports"])


def test_every_link_opens_a_report(page, run_dir, results):
    pg = page.open(run_dir / "index.html")
    hrefs = set(pg.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"))
    assert {(run_dir / r["html"]).resolve().as_uri() for r in results["reports"]} <= hrefs
    for href in sorted(hrefs):
        assert href.startswith("file://"), href
        target = Path(href.removeprefix("file://").split("#")[0])
        assert target.is_file(), href
        response = pg.goto(href)
        assert response is None or response.ok, href
        assert pg.locator("#checks").count() == 1, href
        assert pg.locator("#checks table.checks, #checks p.empty").count() == 1, href
        back = pg.locator("nav.crumbs a").first.get_attribute("href")
        assert (target.parent / back).resolve() == (run_dir / "index.html").resolve()
    assert page.errors == []


def test_filter_by_status_subject_region_and_template(page, run_dir, results):
    pg = page.open(run_dir / "index.html")
    pg.select_option("select[name=status]", "fail")
    assert set(visible_ids(pg)) == by_status(results, "fail")
    assert (
        pg.locator("#reports-shown").inner_text()
        == f"{len(by_status(results, 'fail'))} of 4 reports"
    )
    pg.select_option("select[name=template]", "assembly_validation")
    assert visible_ids(pg) == ["subj01-V4-assembly_validation"]
    pg.select_option("select[name=status]", "")
    pg.select_option("select[name=region]", "IT")
    assert visible_ids(pg) == ["subj01-IT-assembly_validation"]
    pg.select_option("select[name=subject]", "subj01")
    pg.select_option("select[name=region]", "")
    assert len(visible_ids(pg)) == 3
    pg.click("#report-filters button[type=reset]")
    expect(pg.locator("#reports-shown")).to_have_text("4 of 4 reports")
    assert len(visible_ids(pg)) == 4
    pg.select_option("select[name=status]", "error")
    assert set(visible_ids(pg)) == by_status(results, "error")


def test_sorting_by_column(page, run_dir, results):
    pg = page.open(run_dir / "index.html")
    ranks = {r["id"]: STATUSES.index(r["status"]) for r in results["reports"]}
    initial = visible_ids(pg)
    assert [ranks[i] for i in initial] == sorted(ranks[i] for i in initial)  # worst first

    def column(name):
        pg.click(f"th[data-sort={name}] button")
        return visible_ids(pg)

    by_id = column("id")
    assert by_id == sorted(ranks)
    assert pg.get_attribute("th[data-sort=id]", "aria-sort") == "ascending"
    assert column("id") == sorted(ranks, reverse=True)
    assert pg.get_attribute("th[data-sort=id]", "aria-sort") == "descending"
    by_status_rank = column("rank")
    assert [ranks[i] for i in by_status_rank] == sorted(ranks.values())
    assert column("rank")[0] == "subj01-V1-assembly_validation"  # best first
    region_order = [i for i in column("region") if i != "assembly_structure"]
    assert region_order == [f"subj01-{r}-assembly_validation" for r in ("V1", "V4", "IT")]
    seconds = {r["id"]: r["seconds"] for r in results["reports"]}
    got = column("seconds")
    assert [seconds[i] for i in got] == sorted(seconds.values())
    # sorting keeps the filter
    pg.select_option("select[name=status]", "fail")
    assert set(column("subject")) == by_status(results, "fail")


def test_no_request_leaves_the_machine(page, run_dir, results):
    page.open(run_dir / "index.html")
    for record in results["reports"]:
        page.open(run_dir / record["html"])
    assert page.requests, "the route saw no request at all"
    assert page.external_requests() == []
    assert page.errors == []


def test_reports_have_checks_first_contents_and_collapsed_code(page, run_dir, results):
    record = next(r for r in results["reports"] if r["id"] == "subj01-V4-assembly_validation")
    pg = page.open(run_dir / record["html"])
    top = lambda sel: pg.locator(sel).first.bounding_box()["y"]  # noqa: E731
    assert (
        top("#summary") < top("#checks") < top("#contents") < top("#parameters") < top("#notebook")
    )
    assert pg.locator("#checks tbody tr").count() == len(record["checks"])
    assert pg.locator("#checks tbody tr").first.get_attribute("data-status") == "fail"
    # every contents entry points at an element of the page
    targets = pg.eval_on_selector_all("#contents a", "as => as.map(a => a.getAttribute('href'))")
    assert len(targets) > 5
    for target in targets:
        assert pg.locator(f'[id="{target.removeprefix("#")}"]').count() == 1, target
    # papermill's injected parameters are listed
    injected = pg.locator("#parameters tr.origin-injected th").all_inner_texts()
    assert {"nsd_root", "subject", "region"} <= set(injected)
    assert '"V4"' in pg.locator("#parameters").inner_text()
    # code cells are collapsed; the button opens and closes them all
    cells = pg.locator(".notebook details.input")
    assert cells.count() > 3
    assert (
        pg.eval_on_selector_all(".notebook details.input", "ds => ds.filter(d => d.open).length")
        == 0
    )
    assert not cells.first.locator("pre").first.is_visible()
    pg.click("#show-code")
    assert pg.eval_on_selector_all(".notebook details.input", "ds => ds.every(d => d.open)")
    assert cells.first.locator("pre").first.is_visible()
    pg.click("#show-code")
    assert (
        pg.eval_on_selector_all(".notebook details.input", "ds => ds.some(d => d.open)") is False
    )
    assert page.errors == []


def test_error_report_shows_the_error_first(page, run_dir, results, planted):
    record = next(r for r in results["reports"] if r["status"] == "error")
    pg = page.open(run_dir / record["html"])
    first = pg.eval_on_selector("main", "m => m.firstElementChild.id")
    assert first == "errorbox"
    box = pg.locator("#errorbox")
    assert box.locator(".ename").inner_text() == "RuntimeError"
    assert box.locator(".evalue").inner_text() == planted  # markup shown as text
    assert box.locator(".evalue b").count() == 0
    assert "Failing cell index" in box.inner_text()
    assert 'raise RuntimeError("planted' in box.locator("pre.cell-source").inner_text().replace(
        "'", '"'
    )
    top = lambda sel: pg.locator(sel).first.bounding_box()["y"]  # noqa: E731
    assert top("#errorbox") < top("#summary") < top("#checks")


def test_report_pages_stay_small(run_dir, results):
    for record in results["reports"]:
        assert (run_dir / record["html"]).stat().st_size < MAX_PAGE_BYTES
    assert (run_dir / "index.html").stat().st_size < MAX_PAGE_BYTES


def _hostile_pages(tmp_path):
    """An index and a report whose data strings and notebook output carry markup."""
    rec = ReportRecord(
        id=f"subj01-{PWNED}-assembly_validation",
        template="assembly_validation",
        subject=BOLD,
        region=PWNED,
        status="fail",
        notebook="subj01/V4/assembly_validation.ipynb",
        html="subj01/V4/assembly_validation.html",
        seconds=1.0,
        parameters={"region": PWNED},
        checks=[
            {
                "section": BOLD,
                "name": PWNED,
                "subject": BOLD,
                "region": PWNED,
                "value": PWNED,
                "threshold": BOLD,
                "status": "fail",
                "detail": f"voxel_x {PWNED} {BOLD}",
            }
        ],
    )
    results = {
        "schema_version": 1,
        "nsdval_version": BOLD,
        "created": PWNED,
        "nsd_root": PWNED,
        "status": "fail",
        "reports": [rec],
        "benchmark": {PWNED: {"reported": {"score": 1.0}, "replica": {"score": PWNED}}},
    }
    manifest = {"command": PWNED, "git_commit": BOLD, "parameters": {PWNED: BOLD}, "inputs": []}
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell("# Report"),
        new_code_cell(
            "display(HTML(...))",
            outputs=[
                new_output(
                    "display_data",
                    data={
                        "text/html": '<p id="raw-output">raw</p><script>window.__raw=1</script>'
                        '<img src="x" onerror="window.__onerror=1">'
                    },
                )
            ],
        ),
    ]
    (tmp_path / "index.html").write_text(render_index(results=results, manifest=manifest))
    report = tmp_path / rec.html
    report.parent.mkdir(parents=True)
    report.write_text(render_report(notebook=nb, record=rec))
    nbformat.write(nb, str(report.with_suffix(".ipynb")))
    return tmp_path / "index.html", report


def test_markup_in_data_renders_as_text_and_never_runs(page, tmp_path):
    index, report = _hostile_pages(tmp_path)
    for path in (index, report):
        pg = page.open(path)
        assert pg.evaluate("window.__pwned") is None
        text = pg.locator("main").inner_text()
        assert PWNED in text and BOLD in text, path
        assert pg.locator("main b", has_text="bold").count() == 0
        # nsdval's own script still runs under the policy (it only shows its controls)
        assert pg.locator("#report-filters, .code-toggle").first.is_visible()
    # a notebook's raw HTML output shows, but its scripts and handlers are blocked by the CSP
    pg = page.open(report)
    assert pg.locator("#raw-output").count() == 1
    assert pg.evaluate("[window.__raw, window.__onerror]") == [None, None]
    assert page.external_requests() == []


def test_filter_menus_escape_data(page, tmp_path):
    index, _ = _hostile_pages(tmp_path)
    pg = page.open(index)
    options = pg.eval_on_selector_all("select[name=region] option", "os => os.map(o => o.value)")
    assert options == ["", PWNED]
    pg.select_option("select[name=region]", PWNED)
    assert visible_ids(pg) == [f"subj01-{PWNED}-assembly_validation"]
    assert pg.evaluate("window.__pwned") is None


def test_screenshots(page, run_dir, results):
    """Screenshots of the index and the error report, for people to look at (not compared)."""
    shots = Path("/tmp/nsdval-screenshots")
    shots.mkdir(exist_ok=True)
    pg = page.open(run_dir / "index.html")
    pg.screenshot(path=str(shots / "index.png"), full_page=True)
    record = next(r for r in results["reports"] if r["status"] == "error")
    pg = page.open(run_dir / record["html"])
    pg.screenshot(path=str(shots / "report-error.png"), full_page=False)
    assert re.match(rb"\x89PNG", (shots / "index.png").read_bytes()[:4])
