"""Comparing hand-built runs: matching, status changes, tolerances, provenance, rendering."""

import copy
import re
from dataclasses import replace

import pytest

from nsdval.analysis.record import ReportRecord
from nsdval.cli import main
from nsdval.pages.comparison import render_compare
from nsdval.release import compare

XSS = "<script>alert(1)</script>"
EXTERNAL = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


def check(name, status="pass", value=1e-7, threshold=1e-5, subject="subj01", region="V4"):
    return {
        "section": "1. Values",
        "name": name,
        "status": status,
        "value": value,
        "threshold": threshold,
        "detail": "",
        "subject": subject,
        "region": region,
    }


def run(label="A", checks=None, status="pass", **changes):
    """A loaded run with one report holding ``checks``."""
    report = ReportRecord(
        id="subj01-V4-assembly_validation",
        template="assembly_validation",
        status=status,
        parameters={"nsd_root": "/data/nsd", "subject": 1, "region": "V4"},
        checks=checks if checks is not None else [check("train-values"), check("count", value=29)],
    )
    results = {
        "created": "2026-11-24T08:25:44+00:00",
        "status": status,
        "nsd_root": "/data/nsd",
        "nsdval_version": "0.1.0",
        "reports": [report],
        "benchmark": {"V4": {"reported": {"score": 0.25, "raw": 0.35, "ceiling": 0.6}}},
    }
    manifest = {
        "python": "3.11.7",
        "parameters": {"regions": ["V4"], "overrides": {}},
        "packages": {"numpy": "2.0.0"},
        "inputs": [
            {"path": "a.hdf5", "size": 10, "sha256": "aa" * 32},
            {"path": "b.mat", "size": 5, "sha256": "bb" * 32},
        ],
    }
    out = {"label": label, "results": results, "manifest": manifest}
    for key, value in changes.items():
        out[key] = value
    return out


def changed(base, edit, label="B"):
    """A deep copy of ``base`` with ``edit(copy)`` applied."""
    other = copy.deepcopy(base)
    other["label"] = label
    edit(other)
    return other


def report_of(r):
    return r["results"]["reports"][0]


def edit_report(r, **changes):
    """Replace the report of loaded run ``r`` by a copy with ``changes``."""
    r["results"]["reports"][0] = replace(report_of(r), **changes)


def edit_check(r, index, **changes):
    """Replace check ``index`` of the report of ``r`` by a copy with ``changes``."""
    checks = list(report_of(r).checks)
    checks[index] = {**checks[index], **changes}
    edit_report(r, checks=checks)


def test_a_run_compared_with_itself_has_no_differences():
    a = run()
    out = compare.compare_runs(a, copy.deepcopy(a))
    assert out["regressions"] == 0 and out["changed"] is False
    lists = [v for v in out.values() if isinstance(v, list)]
    assert all(v == [] for v in lists) and len(lists) == 11
    assert compare.summary_lines(out)[-1] == "no regressions; no differences"


@pytest.mark.parametrize(
    ("before", "after", "regression"),
    [
        ("pass", "fail", True),
        ("pass", "error", True),
        ("warn", "fail", True),
        ("pass", "warn", False),
        ("fail", "pass", False),
        ("fail", "error", False),
    ],
)
def test_status_changes_and_regressions(before, after, regression):
    a = run(checks=[check("train-values", before)], status=before)
    b = run(checks=[check("train-values", after)], status=after)
    out = compare.compare_runs(a, b)
    assert [(r["name"], r["a"], r["b"], r["regression"]) for r in out["check_status"]] == [
        ("train-values", before, after, regression)
    ]
    assert out["regressions"] == int(regression)


def test_checks_are_matched_by_report_section_name_and_scope():
    scoped = [check("region-score", region=r, subject=None) for r in ("V1", "V4")]
    a = run(checks=scoped)
    b = changed(a, lambda r: edit_check(r, 1, status="fail"))
    out = compare.compare_runs(a, b)
    assert [(r["name"], r["scope"]) for r in out["check_status"]] == [("region-score", "V4")]


def test_repeated_checks_are_matched_in_order():
    a = run(checks=[check("dup", value=1), check("dup", value=2)])
    b = changed(a, lambda r: edit_check(r, 1, value=3))
    assert [(r["a"], r["b"]) for r in compare.compare_runs(a, b)["values"]] == [(2, 3)]


def test_reports_and_checks_added_and_removed():
    a = run()

    def edit(r):
        extra = replace(report_of(r), id="subj02-V4-assembly_validation")
        edit_report(r, checks=[check("train-values"), check("new-check")])
        r["results"]["reports"].append(extra)

    out = compare.compare_runs(a, changed(a, edit))
    assert out["reports_added"] == ["subj02-V4-assembly_validation"]
    assert out["reports_removed"] == []
    assert [r["name"] for r in out["checks_added"]] == ["new-check"]
    assert [r["name"] for r in out["checks_removed"]] == ["count"]
    back = compare.compare_runs(changed(a, edit), a)
    assert back["reports_removed"] == ["subj02-V4-assembly_validation"]
    assert back["regressions"] == 0


def test_a_report_that_errors_without_checks_is_one_regression():
    a = run()
    b = changed(a, lambda r: edit_report(r, status="error", checks=[]))
    out = compare.compare_runs(a, b)
    assert out["regressions"] == 1
    assert out["report_status"] == [
        {"id": "subj01-V4-assembly_validation", "a": "pass", "b": "error", "regression": True}
    ]
    assert len(out["checks_removed"]) == 2


@pytest.mark.parametrize(
    ("before", "after", "atol", "rtol", "expected"),
    [
        (1e-7, 2e-7, 1e-6, 1e-6, False),  # jitter of a difference near zero
        (1e-7, 3e-6, 1e-6, 1e-6, True),
        (0.25, 0.2500001, 1e-6, 1e-6, False),
        (0.25, 0.2501, 1e-6, 1e-6, True),
        (1000.0, 1000.0009, 1e-6, 1e-6, False),  # relative part scales
        (1000.0, 1000.01, 1e-6, 1e-6, True),
        (144, 145, 1e3, 1.0, True),  # integers are counts: any change
        (144, 144.0, 0, 0, False),
        ("float32", "float64", 1, 1, True),
        (True, False, 1, 1, True),
        (None, 0, 1, 1, True),
        ("nan", "nan", 0, 0, False),
        (float("nan"), float("nan"), 0, 0, False),
        (float("inf"), 1e308, 0, 1, True),
    ],
)
def test_moved(before, after, atol, rtol, expected):
    assert compare.moved(before, after, atol=atol, rtol=rtol) is expected


def test_values_and_thresholds_that_moved_are_listed_with_their_difference():
    a = run()

    def edit(r):
        edit_check(r, 0, value=2e-7, threshold=1e-4)
        edit_check(r, 1, value=30)

    out = compare.compare_runs(a, changed(a, edit))
    rows = [(r["name"], r["field"], r["a"], r["b"], r["diff"]) for r in out["values"]]
    assert rows == [
        ("train-values", "threshold", 1e-5, 1e-4, pytest.approx(9e-5)),
        ("count", "value", 29, 30, 1),
    ]
    assert compare.compare_runs(a, changed(a, edit), atol=1.0)["values"][0]["field"] == "value"


def test_benchmark_numbers_that_moved():
    a = run()
    b = changed(a, lambda r: r["results"]["benchmark"]["V4"]["reported"].update(score=0.3))
    out = compare.compare_runs(a, b)
    assert out["benchmark"] == [
        {
            "region": "V4",
            "source": "reported",
            "metric": "score",
            "a": 0.25,
            "b": 0.3,
            "diff": pytest.approx(0.05),
        }
    ]


def test_parameter_differences_leave_out_locations():
    a = run()

    def edit(r):
        r["manifest"]["parameters"]["overrides"] = {"tolerance": 1e-4}
        r["results"]["nsd_root"] = "/data/nsd-v2"
        moved = {"nsd_root": "/data/nsd-v2", "cache_dir": "/out/.cache", "n_spot_checks": 9}
        edit_report(
            r,
            parameters={**report_of(r).parameters, **moved},
            rerun={"at": "now", "overrides": {"tolerance": 1e-4}},
        )

    out = compare.compare_runs(a, changed(a, edit))
    rid = "subj01-V4-assembly_validation"
    assert [(r["name"], r["a"], r["b"]) for r in out["parameters"]] == [
        ("nsd_root", "/data/nsd", "/data/nsd-v2"),
        ("overrides.tolerance", None, 1e-4),
        (f"{rid}: n_spot_checks", None, 9),
        (f"{rid}: rerun.tolerance", None, 1e-4),
    ]


def test_input_differences_by_path():
    a = run()

    def edit(r):
        inputs = r["manifest"]["inputs"]
        inputs[0]["sha256"] = "cc" * 32
        inputs[1] = {"path": "c.nc", "size": 1, "hash": "size-mtime", "mtime_ns": 5}

    out = compare.compare_runs(a, changed(a, edit))
    assert [(r["path"], r["change"], r["a"], r["b"]) for r in out["inputs"]] == [
        ("a.hdf5", "changed", "sha256 aaaaaaaaaaaa", "sha256 cccccccccccc"),
        ("b.mat", "removed", "sha256 bbbbbbbbbbbb", None),
        ("c.nc", "added", None, "1 bytes"),
    ]


def test_inputs_without_a_common_digest_compare_by_size():
    a = run()

    def edit(r):
        for entry in r["manifest"]["inputs"]:
            entry.pop("sha256")
        r["manifest"]["inputs"][1]["size"] = 6

    out = compare.compare_runs(a, changed(a, edit))
    assert [(r["path"], r["change"]) for r in out["inputs"]] == [("b.mat", "changed")]


def test_version_differences():
    a = run()

    def edit(r):
        r["manifest"].update(release="v1.3", git_commit="f" * 40)
        r["manifest"]["packages"]["numpy"] = "2.1.0"

    a["manifest"]["release"] = "v1.2"
    out = compare.compare_runs(a, changed(a, edit))
    assert [(r["name"], r["a"], r["b"]) for r in out["versions"]] == [
        ("release", "v1.2", "v1.3"),
        ("git_commit", None, "f" * 40),
        ("packages.numpy", "2.0.0", "2.1.0"),
    ]


def test_summary_lines_name_each_change():
    a = run()
    b = changed(a, lambda r: edit_check(r, 0, status="fail", value=1.0))
    edit_report(b, status="fail")
    lines = compare.summary_lines(compare.compare_runs(a, b))
    assert lines[0] == "A: A (pass, 1 reports)"
    text = "\n".join(lines)
    assert "report subj01-V4-assembly_validation: pass -> fail" in text
    check_line = "check subj01-V4-assembly_validation / train-values [subj01 · V4]: pass -> fail"
    assert f"{check_line} (regression)" in text
    assert "value subj01-V4-assembly_validation / train-values [subj01 · V4] value" in text
    assert lines[-1] == "1 regression(s); runs differ"


def test_render_compare_escapes_and_links_nothing_outside():
    a = run(label=XSS, checks=[check(XSS)])
    b = changed(a, lambda r: edit_check(r, 0, status="fail"))
    b["manifest"]["packages"][XSS] = XSS
    page = render_compare(comparison=compare.compare_runs(a, b))
    assert XSS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not EXTERNAL.search(page)
    assert "1 regression" in page and 'data-regression="true"' in page
    same = render_compare(comparison=compare.compare_runs(a, copy.deepcopy(a)))
    assert "no regressions" in same and "No status changes." in same


def test_cli_compare_exit_codes_and_default_page(make_run, base_results, tmp_path, capsys):
    a = make_run(tmp_path / "a")
    assert main(["compare", str(a), str(a)]) == 0
    assert (a / "compare.html").is_file()
    assert "no regressions; no differences" in capsys.readouterr().out
    v4 = base_results["reports"][1]
    failing = [{**v4.checks[0], "status": "fail"}, *v4.checks[1:]]
    base_results["reports"][1] = replace(v4, checks=failing)
    b = make_run(tmp_path / "b", base_results)
    page = tmp_path / "cmp.html"
    assert main(["compare", str(a), str(b), "--html", str(page), "--tolerance", "0.1"]) == 1
    out = capsys.readouterr().out
    assert "train-values [subj01 · V4]: pass -> fail (regression)" in out
    assert f"Comparison: {page.resolve()}" in out and page.is_file()
    assert main(["compare", str(a), str(tmp_path / "missing")]) == 2


def test_cli_compare_writes_beside_an_archive_into_the_working_folder(tmp_path, monkeypatch):
    from nsdval.cli.commands import default_compare_html

    extracted = tmp_path / "nsdval-v1"
    extracted.mkdir()
    (extracted / "SHA256SUMS").write_text("")
    monkeypatch.chdir(tmp_path)
    assert default_compare_html(extracted) == default_compare_html(tmp_path / "x.tar.gz")
    assert default_compare_html(tmp_path) == tmp_path / "compare.html"
