"""What changed between two validation runs, e.g. the releases v1.2 and v1.3, as data.

:func:`compare_runs` takes two runs as loaded by :func:`nsdval.release.verify.load_run` (a run
folder or an archive: its ``results.json``, reports read back as
:class:`~nsdval.analysis.record.ReportRecord`, and ``manifest.json``) and returns a JSON-ready
dict; :func:`summary_lines` turns it into text and
:func:`nsdval.pages.comparison.render_compare` into a page. Reports are matched by id;
checks by report id, section, name, subject and region.

A number *moved* when ``|b - a| > atol + rtol * max(|a|, |b|)``: the absolute part absorbs
the jitter of values that are differences near zero (a max |diff| of 1e-7 against 2e-7),
the relative part scales with large values. Integers, strings, booleans and ``None``
moved when they differ at all.

Parameters are the run's (``manifest.json``), its NSD root, and each report's template
parameters and re-run overrides. Report parameters holding absolute paths (the NSD root,
the extraction cache) are left out: they change with where a run was made, and what they
point to is compared through the input checksums.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import PurePosixPath, PureWindowsPath

PASSING = ("pass", "warn")
"""Statuses that count as passed; a check leaving them for fail or error regressed."""

_SIDE_KEYS = ("created", "status", "nsdval_version", "nsd_root")


def compare_runs(a, b, *, atol=1e-6, rtol=1e-6):
    """Compare run ``a`` (before) with run ``b`` (after).

    Parameters
    ----------
    a, b : dict
        ``{"label", "results", "manifest"}`` as returned by ``nsdval.release.verify.load_run``.
    atol, rtol : float
        Absolute and relative tolerance for numbers (see the module docstring).

    Returns
    -------
    dict
        ``a``, ``b`` (labels and run summaries), ``tolerance``, ``reports_added``,
        ``reports_removed`` (ids), ``report_status``, ``check_status`` (rows with ``a``,
        ``b`` and ``regression``), ``checks_added``, ``checks_removed``, ``values`` and
        ``benchmark`` (numbers that moved), ``parameters``, ``inputs``, ``versions``
        (differences), ``regressions`` (checks that passed in ``a`` and fail or error in
        ``b``, plus reports that did so without such a check, e.g. a notebook that
        errored) and ``changed`` (any difference at all).

    Examples
    --------
    >>> from nsdval.analysis.record import ReportRecord
    >>> check = {"section": "s", "name": "c", "status": "pass", "value": 1e-7}
    >>> def run(status, value):
    ...     report = ReportRecord(id="r", template="t", status=status,
    ...                           checks=[{**check, "status": status, "value": value}])
    ...     return {"label": "x", "results": {"reports": [report]}, "manifest": {}}
    >>> out = compare_runs(run("pass", 1e-7), run("fail", 2e-7))
    >>> out["regressions"], [row["name"] for row in out["check_status"]], out["values"]
    (1, ['c'], [])
    """
    reports_a, reports_b = _reports(a), _reports(b)
    out = {
        "a": _side(a),
        "b": _side(b),
        "tolerance": {"atol": atol, "rtol": rtol},
        "reports_added": [rid for rid in reports_b if rid not in reports_a],
        "reports_removed": [rid for rid in reports_a if rid not in reports_b],
        "report_status": _report_status(reports_a, reports_b),
        **_check_changes(reports_a, reports_b, atol=atol, rtol=rtol),
        "benchmark": _moved_benchmark(a["results"], b["results"], atol, rtol),
        "parameters": _parameter_changes(a, b),
        "inputs": _input_changes(a["manifest"], b["manifest"]),
        "versions": _version_changes(a, b),
    }
    out["regressions"] = _count_regressions(out["check_status"], out["report_status"])
    out["changed"] = any(value for value in out.values() if isinstance(value, list))
    return out


def _count_regressions(check_status, report_status):
    """Checks that regressed, plus reports that regressed without such a check (errors)."""
    checks = [row for row in check_status if row["regression"]]
    covered = {row["report"] for row in checks}
    reports = [row for row in report_status if row["regression"] and row["id"] not in covered]
    return len(checks) + len(reports)


def _check_changes(reports_a, reports_b, *, atol, rtol):
    """Status changes, added and removed checks, and moved values of matched checks.

    Checks of a report added or removed as a whole are not listed one by one.
    """
    both = reports_a.keys() & reports_b.keys()
    checks_a, checks_b = _checks(reports_a), _checks(reports_b)
    common = [key for key in checks_a if key in checks_b]
    added = [k for k in checks_b if k not in checks_a and k[0] in both]
    removed = [k for k in checks_a if k not in checks_b and k[0] in both]
    return {
        "check_status": [
            _status_row(key, checks_a[key], checks_b[key])
            for key in common
            if checks_a[key].get("status") != checks_b[key].get("status")
        ],
        "checks_added": [_check_row(key, checks_b[key]) for key in added],
        "checks_removed": [_check_row(key, checks_a[key]) for key in removed],
        "values": _moved_values(common, checks_a, checks_b, atol, rtol),
    }


def _side(run):
    results, run_manifest = run["results"], run.get("manifest") or {}
    side = {"label": run["label"], "release": run_manifest.get("release")}
    side.update({key: results.get(key) for key in _SIDE_KEYS})
    side["reports"] = len(results.get("reports") or [])
    return side


def _reports(run):
    return {record.id: record for record in run["results"].get("reports") or []}


def _checks(reports):
    """``{key: check}`` over all reports; a repeated key gets an occurrence number."""
    out, seen = {}, Counter()
    for rid, record in reports.items():
        for check in record.checks:
            base = (rid, check.get("section"), check.get("name"))
            base += (check.get("subject"), check.get("region"))
            seen[base] += 1
            out[(*base, seen[base])] = check
    return out


def _check_row(key, check):
    rid, section, name, subject, region, _ = key
    scope = " · ".join(str(p) for p in (subject, region) if p)
    return {
        "report": rid,
        "section": section,
        "name": name,
        "scope": scope,
        "status": check.get("status"),
    }


def _status_row(key, before, after):
    row = _check_row(key, after)
    del row["status"]
    row.update(a=before.get("status"), b=after.get("status"))
    row["regression"] = _regressed(row["a"], row["b"])
    return row


def _regressed(before, after):
    return before in PASSING and after not in PASSING


def _report_status(reports_a, reports_b):
    rows = []
    for rid, record in reports_a.items():
        after = reports_b.get(rid)
        if after is not None and after.status != record.status:
            row = {"id": rid, "a": record.status, "b": after.status}
            rows.append({**row, "regression": _regressed(row["a"], row["b"])})
    return rows


def moved(before, after, *, atol, rtol):
    """Whether a value changed beyond tolerance (see the module docstring).

    Examples
    --------
    >>> moved(1e-7, 2e-7, atol=1e-6, rtol=1e-6), moved(0.25, 0.2501, atol=1e-6, rtol=1e-6)
    (False, True)
    >>> moved(144, 145, atol=10, rtol=0), moved("float32", "float64", atol=0, rtol=0)
    (True, True)
    """
    if _number(before) and _number(after):
        if isinstance(before, int) and isinstance(after, int):
            return before != after
        if not (math.isfinite(before) and math.isfinite(after)):
            return not (before == after or (math.isnan(before) and math.isnan(after)))
        return abs(after - before) > atol + rtol * max(abs(before), abs(after))
    return before != after


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _value_row(before, after):
    diff = after - before if _number(before) and _number(after) else None
    return {"a": before, "b": after, "diff": diff}


def _moved_values(keys, checks_a, checks_b, atol, rtol):
    rows = []
    for key in keys:
        for field in ("value", "threshold"):
            before, after = checks_a[key].get(field), checks_b[key].get(field)
            if moved(before, after, atol=atol, rtol=rtol):
                row = _check_row(key, checks_b[key])
                rows.append({**row, "field": field, **_value_row(before, after)})
    return rows


def _moved_benchmark(results_a, results_b, atol, rtol):
    """Reported and replica score, raw and ceiling per region that moved."""
    bench_a, bench_b = results_a.get("benchmark") or {}, results_b.get("benchmark") or {}
    rows = []
    for region in [r for r in bench_a if r in bench_b]:
        for source in ("reported", "replica"):
            before = bench_a[region].get(source) or {}
            after = bench_b[region].get(source) or {}
            for metric in ("score", "raw", "ceiling"):
                x, y = before.get(metric), after.get(metric)
                if moved(x, y, atol=atol, rtol=rtol):
                    rows.append(
                        {"region": region, "source": source, "metric": metric} | _value_row(x, y)
                    )
    return rows


def flatten(mapping, prefix=""):
    """Nested dicts as one dict with dotted keys; empty dicts vanish.

    Examples
    --------
    >>> flatten({"jobs": 2, "overrides": {"tolerance": 1e-6}, "regions": ["V1"], "x": {}})
    {'jobs': 2, 'overrides.tolerance': 1e-06, 'regions': ['V1']}
    """
    out = {}
    for key, value in (mapping or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, prefix=f"{name}."))
        else:
            out[name] = value
    return out


def _differences(before, after):
    """``{"name", "a", "b"}`` for every key whose value differs (absent is None)."""
    names = list(before) + [name for name in after if name not in before]
    return [
        {"name": name, "a": before.get(name), "b": after.get(name)}
        for name in names
        if before.get(name) != after.get(name)
    ]


def _parameter_changes(a, b):
    """Run parameters, the NSD root and each report's effective template parameters."""

    def collect(run):
        out = flatten(run["manifest"].get("parameters"))
        out["nsd_root"] = run["results"].get("nsd_root")
        for record in run["results"].get("reports") or []:
            params = record.parameters or {}
            params = {k: v for k, v in params.items() if not _is_location(v)}
            params["rerun"] = (record.rerun or {}).get("overrides")
            out.update(flatten(params, prefix=f"{record.id}: "))
        return out

    return _differences(collect(a), collect(b))


def _is_location(value):
    r"""Whether a parameter is an absolute path (where a run was made, not what it read).

    Examples
    --------
    >>> _is_location("/data/nsd"), _is_location("C:\\nsd"), _is_location("V4")
    (True, True, False)
    """
    if not isinstance(value, str):
        return False
    return PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute()


def _version_changes(a, b):
    keys = ("release", "nsdval_version", "git_commit", "git_dirty", "python", "platform")

    def collect(run):
        run_manifest = run["manifest"]
        out = {key: run_manifest.get(key) for key in keys}
        out["nsdval_version"] = out["nsdval_version"] or run["results"].get("nsdval_version")
        out.update(flatten(run_manifest.get("packages"), prefix="packages."))
        return out

    return _differences(collect(a), collect(b))


def _input_changes(manifest_a, manifest_b):
    """Input files added, removed, or whose sha256 (else size) differs, by path."""
    inputs_a = {r["path"]: r for r in manifest_a.get("inputs") or []}
    inputs_b = {r["path"]: r for r in manifest_b.get("inputs") or []}
    rows = []
    for path in sorted(inputs_a.keys() | inputs_b.keys()):
        x, y = inputs_a.get(path), inputs_b.get(path)
        if x is None or y is None:
            change = "added" if x is None else "removed"
        elif x.get("sha256") and y.get("sha256"):
            change = "changed" if x["sha256"] != y["sha256"] else None
        else:
            change = "changed" if x.get("size") != y.get("size") else None
        if change:
            rows.append(
                {"path": path, "change": change, "a": _fingerprint(x), "b": _fingerprint(y)}
            )
    return rows


def _fingerprints(x, y):
    return {"a": _fingerprint(x), "b": _fingerprint(y)}


def _fingerprint(record):
    """Short fingerprint of an input record: sha256 prefix, else size."""
    if record is None:
        return None
    if record.get("sha256"):
        return f"sha256 {record['sha256'][:12]}"
    return f"{record.get('size')} bytes"


def summary_lines(comparison):
    """The comparison as lines of text for a terminal, most important first."""
    c = comparison
    lines = [
        f"A: {c['a']['label']} ({c['a']['status']}, {c['a']['reports']} reports)",
        f"B: {c['b']['label']} ({c['b']['status']}, {c['b']['reports']} reports)",
    ]
    lines += [f"report added: {rid}" for rid in c["reports_added"]]
    lines += [f"report removed: {rid}" for rid in c["reports_removed"]]
    lines += [f"report {r['id']}: {r['a']} -> {r['b']}" for r in c["report_status"]]
    lines += [
        f"check {r['report']} / {r['name']}{_scope(r)}: {r['a']} -> {r['b']}"
        + (" (regression)" if r["regression"] else "")
        for r in c["check_status"]
    ]
    for key, word in (("checks_added", "added"), ("checks_removed", "removed")):
        lines += [f"check {word}: {r['report']} / {r['name']}{_scope(r)}" for r in c[key]]
    lines += [
        f"value {r['report']} / {r['name']}{_scope(r)} {r['field']}: {r['a']!r} -> {r['b']!r}"
        for r in c["values"]
    ]
    lines += [
        f"benchmark {r['region']} {r['source']} {r['metric']}: {r['a']!r} -> {r['b']!r}"
        for r in c["benchmark"]
    ]
    for key in ("parameters", "versions"):
        lines += [f"{key[:-1]} {r['name']}: {r['a']!r} -> {r['b']!r}" for r in c[key]]
    lines += [f"input {r['change']}: {r['path']}" for r in c["inputs"]]
    verdict = f"{c['regressions']} regression(s)" if c["regressions"] else "no regressions"
    lines.append(f"{verdict}; " + ("runs differ" if c["changed"] else "no differences"))
    return lines


def _scope(row):
    return f" [{row['scope']}]" if row["scope"] else ""
