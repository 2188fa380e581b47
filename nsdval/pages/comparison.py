"""The page comparing two runs (see :mod:`nsdval.release.compare`)."""

from __future__ import annotations

from nsdval.pages.shell import document, render


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
    return document(title=title, body=render("compare.html.j2", **context))
