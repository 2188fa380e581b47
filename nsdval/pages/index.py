"""The index page of a run.

Status, counts, the families validated (a space x variant grid), then per family its
structure report, one subject x region matrix per template and the benchmark summary; the
filterable table of every report and the provenance.
"""

from __future__ import annotations

import math

from nsdval.analysis.record import DEFAULT_FAMILY, ReportRecord
from nsdval.data.families import family_of_key, family_order
from nsdval.data.layout import REGIONS
from nsdval.pages.shell import (
    STATUSES,
    check_rows,
    document,
    fmt_value,
    href,
    items,
    known_status,
    render,
    status_counts,
    status_rank,
)


def _region_key(region: str) -> tuple[int, str]:
    known = region in REGIONS
    return (REGIONS.index(region) if known else len(REGIONS), "" if known else region)


def _report_rows(reports: list[ReportRecord]) -> list[dict]:
    """Return one flat row per report, worst first, then by subject, region and template."""
    rows = []
    for rec in reports:
        checks = check_rows(rec, rec.notebook or rec.id or "report")
        row = {
            "id": rec.id,
            "template": rec.template,
            "subject": rec.subject or "",
            "region": rec.region or "",
            "family": rec.family,
        }
        row["status"] = rec.status  # a ReportRecord's status is one of STATUSES
        row["check_statuses"] = [c["status"] for c in checks]
        row["problems"] = [c for c in checks if c["status"] != "pass"]
        row["ename"] = (rec.error or {}).get("ename")
        row["seconds"] = rec.seconds
        row["href"] = href(rec.html) if rec.html else None
        row["rerun"] = _rerun_note(rec.rerun)
        row["rank"] = status_rank(row["status"])
        row["region_key"] = "{:02d}{}".format(*_region_key(row["region"])) if row["region"] else ""
        rows.append(row)
    return sorted(
        rows, key=lambda r: (status_rank(r["status"]), r["subject"], r["region"], r["id"])
    )


def _comparison_link(comparison) -> dict | None:
    """Link and counts of the comparison with a previous release, when the run made one."""
    if not comparison:
        return None
    return {
        "href": href(comparison["html"]),
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


def _family_sections(rows: list[dict], results: dict) -> list[dict]:
    """Per family of the run, in space then variant order: its status and its sections.

    Each entry holds the family's ``key`` and ``label``, ``anchor`` (the prefix of its
    section ids: empty for the volume 8-subject family, whose sections keep the ids they
    always had), ``status`` (worst of its reports), its ``structure`` rows, its subject x
    region ``matrices`` and its ``benchmark`` rows.
    """
    benchmarks = dict(results.get("families") or {})
    if results.get("benchmark") and DEFAULT_FAMILY not in benchmarks:
        benchmarks[DEFAULT_FAMILY] = results["benchmark"]  # results of one family only
    keys = {r["family"] for r in rows} | {k for k, v in benchmarks.items() if v}
    families = sorted((family_of_key(k) for k in keys), key=family_order)
    sections = []
    for family in families:
        own = [r for r in rows if r["family"] == family.key]
        records = [r for r in results.get("reports") or [] if r.family == family.key]
        sections.append(
            {
                "key": family.key,
                "label": family.label,
                "anchor": f"{family.prefix}-" if family.prefix else "",
                "status": _worst(own),
                "counts": status_counts(r["status"] for r in own),
                "structure": [r for r in own if not (r["subject"] or r["region"])],
                "matrices": _matrices(own),
                "region_reports": _region_reports(own),
                "benchmark": _benchmark_rows(benchmarks.get(family.key), records),
                "rdm": _rdm_rows(records),
            }
        )
    return sections


def _region_reports(rows: list[dict]) -> list[dict]:
    """One row of region cells per template of region-level reports (a region, no subject)."""
    level = [r for r in rows if r["region"] and not r["subject"]]
    regions = sorted({r["region"] for r in level}, key=_region_key)
    out = []
    for template in sorted({r["template"] for r in level}):
        cells = {r["region"]: r for r in level if r["template"] == template}
        out.append(
            {"template": template, "regions": regions, "cells": [cells.get(g) for g in regions]}
        )
    return out


def _worst(rows: list[dict]) -> str | None:
    return min((r["status"] for r in rows), key=status_rank, default=None)


def _family_grid(sections: list[dict]) -> dict:
    """The space x variant grid of the run's families: rows of cells (None: not validated)."""
    families = sorted((family_of_key(s["key"]) for s in sections), key=family_order)
    variants = list(dict.fromkeys(f.variant for f in sorted(families, key=_variant_first)))
    spaces = list(dict.fromkeys(f.space for f in families))
    by_key = {s["key"]: s for s in sections}
    rows = [
        {"space": space, "cells": [by_key.get(f"{space}{variant}") for variant in variants]}
        for space in spaces
    ]
    return {"variants": [v.lstrip("_") for v in variants], "rows": rows}


def _variant_first(family):
    return family_order(family)[2:]


def _benchmark_rows(
    benchmark: dict | None, reports: list[ReportRecord] | None = None
) -> list[dict]:
    """Return reported vs replica score, raw and ceiling per region, with differences.

    Each row carries the status of the structure report's matching ``region-<metric>`` check
    (None when the run has none) and, on a region's first row, ``span`` (its row count) and
    the benchmark's identifier; later rows of the region have ``span`` 0.
    """
    verdicts = {
        (check.get("region"), check.get("name")): check.get("status")
        for rec in reports or []
        if not (rec.subject or rec.region)
        for check in rec.checks
    }
    return _score_rows(benchmark, verdicts, ("score", "raw", "ceiling"), "region-{}")


def _rdm_rows(reports: list[ReportRecord]) -> list[dict]:
    """Reported vs replica ``-rdm`` score, raw, ceiling and its bound, per region's report.

    The status of each row is that of the region report's ``rdm-<metric>`` check.
    """
    region_level = [r for r in reports if r.region and not r.subject and r.benchmark]
    verdicts = {
        (check.get("region") or rec.region, check.get("name")): check.get("status")
        for rec in region_level
        for check in rec.checks
    }
    benchmark = {k: v for rec in region_level for k, v in rec.benchmark.items()}
    metrics = ("score", "raw", "ceiling", "lower_bound_loo")
    return _score_rows(benchmark, verdicts, metrics, "rdm-{}")


def _score_rows(benchmark, verdicts, metrics, check_name) -> list[dict]:
    rows = []
    for region in sorted(benchmark or {}, key=_region_key):
        entry = benchmark[region] or {}
        reported = entry.get("reported") or {}
        replica = entry.get("replica") or {}
        for n, metric in enumerate(metrics):
            a, b = reported.get(metric), replica.get(metric)
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
            name = check_name.format(metric.replace("_", "-"))
            verdict = verdicts.get((region, name))
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
        "versions": items(versions) + sorted(items(manifest.get("packages"))),
        "parameters": items(manifest.get("parameters")),
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
        The run's ``results.json`` content, its ``reports`` as
        :class:`~nsdval.analysis.record.ReportRecord` (see
        :func:`~nsdval.analysis.record.results_from_json`).
    manifest : dict, optional
        The archive manifest (command, versions, parameters, inputs, timings).

    Returns
    -------
    page : str
        The whole HTML document; all links are relative to the run folder.
    """
    rows = _report_rows(results.get("reports") or [])
    sections = _family_sections(rows, results)
    status = known_status(results.get("status"), source="results.json", what="the run")
    context = {
        "created": results.get("created"),
        "nsd_root": results.get("nsd_root"),
        "nsdval_version": results.get("nsdval_version"),
        "git_commit": (manifest or {}).get("git_commit"),
        "status": status,
        "report_counts": status_counts(r["status"] for r in rows),
        "check_counts": status_counts(s for r in rows for s in r["check_statuses"]),
        "families": sections,
        "family_grid": _family_grid(sections),
        "reports": rows,
        "filters": _filters(rows),
        "provenance": _provenance(manifest),
        "comparison": _comparison_link(results.get("comparison")),
    }
    return document(
        title="nsdval validation run",
        body=render("index.html.j2", **context),
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
        "family": sorted({r["family"] for r in rows}),
    }
    return [
        {
            "field": field,
            "options": [("", "any")]
            + [(v, f"{v} ({sum(r[field] == v for r in rows)})") for v in values],
        }
        for field, values in by_field.items()
    ]
