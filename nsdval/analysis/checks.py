"""Validation checks and their results.

A check function compares what nsdval reproduced with what the assemblies hold and
returns a :class:`CheckResult`; it never raises because the data are wrong (only when it
cannot run at all). Notebooks collect results in a :class:`CheckLog` and write them as a
JSON sidecar beside the executed notebook.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from nsdval import atomic

SCHEMA_VERSION = 1
STATUSES = ("pass", "warn", "fail", "error")
_RANK = {status: rank for rank, status in enumerate(STATUSES)}


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check.

    Attributes
    ----------
    section : str
        Report section, e.g. ``"1. Region assembly -> Brain-Score"``.
    name : str
        Short stable identifier, e.g. ``"train-values"``.
    status : {'pass', 'warn', 'fail', 'error'}
        Outcome.
    value : float, int, str, bool or None
        What was measured.
    threshold : float, int, str or None
        What it was held against.
    detail : str
        One sentence for a reader.
    subject, region : str or None
        Scope of the check; ``None`` for run-wide checks.
    """

    section: str
    name: str
    status: str
    value: object = None
    threshold: object = None
    detail: str = ""
    subject: str | None = None
    region: str | None = None

    def __post_init__(self):
        if self.status not in _RANK:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        object.__setattr__(self, "value", _plain(self.value))
        object.__setattr__(self, "threshold", _plain(self.threshold))

    def to_dict(self):
        """Plain dict, JSON-serialisable."""
        return asdict(self)


def _plain(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def worst_status(statuses):
    """Most severe status of an iterable, ``'pass'`` when empty.

    Examples
    --------
    >>> worst_status(["pass", "warn", "fail"])
    'fail'
    """
    return max(statuses, key=_RANK.__getitem__, default="pass")


def status_for(ok, *, warn=False):
    """``'pass'`` when ``ok``, else ``'warn'`` or ``'fail'``."""
    if ok:
        return "pass"
    return "warn" if warn else "fail"


def difference_check(
    *, section, name, reproduced, actual, tolerance, what="values", equal_nan=False
):
    """Hold the largest absolute difference of two arrays against a tolerance.

    Parameters
    ----------
    section, name : str
        Where the check belongs and its identifier.
    reproduced, actual : array_like
        Same shape; NaN anywhere fails the check, unless ``equal_nan``: then NaN in both at
        the same place counts as equal (and is counted in the detail), NaN in one fails.
    tolerance : float
        Largest allowed absolute difference.
    what : str
        What the arrays hold, for the detail sentence.

    Returns
    -------
    CheckResult

    Examples
    --------
    >>> difference_check(section="s", name="n", reproduced=[1.0], actual=[1.5],
    ...                  tolerance=1e-5).status
    'fail'
    """
    a = np.asarray(reproduced, dtype=np.float64)
    b = np.asarray(actual, dtype=np.float64)
    if a.shape != b.shape:
        detail = f"shapes differ: reproduced {a.shape}, assembly {b.shape}"
        return CheckResult(section, name, "fail", None, tolerance, detail)
    if a.size == 0:
        return CheckResult(section, name, "fail", None, tolerance, f"no {what} to compare")
    both = np.isnan(a) & np.isnan(b) if equal_nan else np.zeros(a.shape, dtype=bool)
    diff = np.where(both, 0.0, np.abs(a - b))
    n_nan = int(np.count_nonzero(np.isnan(diff)))
    if n_nan:
        detail = f"{n_nan} of {diff.size} {what} are NaN in one of the two"
        return CheckResult(section, name, "fail", float("nan"), tolerance, detail)
    worst = float(diff.max())
    detail = f"max |diff| {worst:.2e}, mean {diff.mean():.2e} over {_shape_text(a)} {what}"
    if both.any():
        detail += f" ({int(both.sum())} NaN in both)"
    return CheckResult(section, name, status_for(worst <= tolerance), worst, tolerance, detail)


def _shape_text(array):
    return " x ".join(str(n) for n in array.shape)


def equality_check(*, section, name, expected, actual, what="entries"):
    """Require two sequences to be equal element by element, naming the first mismatch.

    Examples
    --------
    >>> equality_check(section="s", name="n", expected=[1, 2], actual=[1, 3]).detail
    'first of 1 mismatching entries at position 1: expected 2, found 3'
    """
    a = np.asarray(expected)
    b = np.asarray(actual)
    if a.shape != b.shape:
        detail = f"expected {a.size} {what}, found {b.size}"
        return CheckResult(section, name, "fail", int(b.size), int(a.size), detail)
    bad = np.flatnonzero(a.ravel() != b.ravel())
    if bad.size == 0:
        return CheckResult(section, name, "pass", int(a.size), None, f"all {a.size} {what} equal")
    i = bad[0]
    detail = (
        f"first of {bad.size} mismatching {what} at position {i}: "
        f"expected {a.ravel()[i]}, found {b.ravel()[i]}"
    )
    return CheckResult(section, name, "fail", int(bad.size), 0, detail)


def condition_check(*, section, name, ok, detail, value=None, threshold=None, warn=False):
    """Record a yes/no condition; a false condition fails (or warns when ``warn``)."""
    status = status_for(bool(ok), warn=warn)
    return CheckResult(section, name, status, value, threshold, detail)


class CheckLog:
    """Collects the checks of one report and writes them as a JSON sidecar.

    Parameters
    ----------
    subject, region : str or None
        Scope stamped on every result that does not carry its own.
    """

    def __init__(self, *, subject=None, region=None):
        self.subject = subject
        self.region = region
        self.results = []

    def add(self, result):
        """Store ``result`` (scoped to this log) and return it."""
        scoped = replace(
            result,
            subject=result.subject or self.subject,
            region=result.region or self.region,
        )
        self.results.append(scoped)
        return scoped

    def extend(self, results):
        """Store several results; return them scoped, so a notebook can show them."""
        return [self.add(result) for result in results]

    @property
    def status(self):
        """Worst status recorded so far."""
        return worst_status(r.status for r in self.results)

    def table(self, section=None):
        """Results as a DataFrame, status first and most severe first."""
        rows = [r.to_dict() for r in self.results if section in (None, r.section)]
        columns = ["status", "section", "name", "value", "threshold", "detail"]
        frame = pd.DataFrame(rows, columns=[*columns, "subject", "region"])[columns]
        rank = frame["status"].map(_RANK)
        return frame.iloc[np.argsort(-rank.to_numpy(), kind="stable")].reset_index(drop=True)

    def to_dict(self, *, template, parameters, extra=None):
        """The sidecar payload."""
        return {
            "schema_version": SCHEMA_VERSION,
            "template": template,
            "subject": self.subject,
            "region": self.region,
            "status": self.status,
            "parameters": dict(parameters),
            "checks": [r.to_dict() for r in self.results],
            **(extra or {}),
        }

    def write(self, path, *, template, parameters, extra=None):
        """Write the sidecar JSON to ``path`` atomically and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = self.to_dict(template=template, parameters=parameters, extra=extra)
        atomic.write_json(path, payload)
        return path


def read_sidecar(path):
    """Read a sidecar written by :meth:`CheckLog.write`."""
    payload = json.loads(Path(path).read_text())
    if payload.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: unsupported schema_version {payload.get('schema_version')!r}")
    return payload
