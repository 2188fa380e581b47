"""The types of ``nsdval``'s arguments: text on the command line -> the value a command uses.

Each raises :class:`argparse.ArgumentTypeError` with the accepted forms, so argparse prints
one line and exits 2.
"""

from __future__ import annotations

import argparse
import json

from nsdval.data.families import normalize_variant
from nsdval.data.layout import REGIONS, SPACES
from nsdval.errors import ParameterError


def parse_subjects(text):
    """Parse ``1-8``, ``1,3`` or ``2`` into a tuple of subject numbers.

    Examples
    --------
    >>> parse_subjects("1-3,5")
    (1, 2, 3, 5)
    """
    out = []
    for part in text.split(","):
        part = part.strip()
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise argparse.ArgumentTypeError(f"subjects: expected e.g. 1-8 or 1,3, got {text!r}")
        out.extend(range(int(low), int(high or low) + 1))
    return tuple(sorted(set(out)))


REPORT_KINDS = ("structure", "validation", "rdm")
"""The kinds of report ``--reports`` chooses from (:data:`nsdval.run.plan.REPORT_KINDS`)."""


def parse_reports(text):
    """Parse ``structure,validation`` into a tuple of report kinds, refusing unknown ones.

    Examples
    --------
    >>> parse_reports("rdm, structure")
    ('structure', 'rdm')
    """
    kinds = {k.strip() for k in text.split(",") if k.strip()}
    if not kinds or kinds - set(REPORT_KINDS):
        raise argparse.ArgumentTypeError(
            f"reports: expected a comma list of {', '.join(REPORT_KINDS)}, got {text!r}"
        )
    return tuple(k for k in REPORT_KINDS if k in kinds)


def parse_regions(text):
    """Parse ``V1,V4`` into a tuple of regions, refusing unknown names."""
    regions = tuple(r.strip() for r in text.split(",") if r.strip())
    unknown = [r for r in regions if r not in REGIONS]
    if unknown or not regions:
        raise argparse.ArgumentTypeError(
            f"regions: expected a comma list of {', '.join(REGIONS)}, got {text!r}"
        )
    return regions


def parse_spaces(text):
    """Parse ``volume,surface`` (or ``all``) into a tuple of spaces; ``all`` is ``None``.

    Examples
    --------
    >>> parse_spaces("surface"), parse_spaces("all")
    (('surface',), None)
    """
    spaces = tuple(s.strip() for s in text.split(",") if s.strip())
    if spaces == ("all",):
        return None
    if not spaces or any(s not in SPACES for s in spaces):
        raise argparse.ArgumentTypeError(
            f"space: expected a comma list of {', '.join(SPACES)}, or all, got {text!r}"
        )
    return spaces


def parse_variants(text):
    """Parse ``_8subj,4subj`` (or ``all``) into a tuple of file suffixes; ``all`` is ``None``.

    Examples
    --------
    >>> parse_variants("8subj,_4subj")
    ('_8subj', '_4subj')
    """
    parts = tuple(v.strip() for v in text.split(",") if v.strip())
    if parts == ("all",):
        return None
    try:
        if not parts:
            raise ParameterError("variant", f"expected e.g. _8subj or 4subj, got {text!r}")
        return tuple(normalize_variant(v) for v in parts)
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(f"variant: {exc.problem}") from None


def parse_parameter(text):
    """Parse ``name=value``; the value as JSON (numbers, true/false) or else a string.

    Examples
    --------
    >>> parse_parameter("tolerance=1e-6")
    ('tolerance', 1e-06)
    >>> parse_parameter("variant=_8subj")
    ('variant', '_8subj')
    """
    name, sep, value = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"-p: expected name=value, got {text!r}")
    literals = {"True": True, "False": False}
    if value in literals:
        return name.strip(), literals[value]
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    if not isinstance(parsed, (int, float, bool, str)):
        parsed = value
    return name.strip(), parsed


def _jobs(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--jobs: expected a positive integer, got {text!r}")
    return int(text)


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _tolerance(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value
