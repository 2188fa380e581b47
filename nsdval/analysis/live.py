"""Live scoring in a report: Brain-Score's own classes on the report's files, when possible.

The ridge and ``-rdm`` reports score their files a second time with Brain-Score when it
imports in the kernel and the report's ``brainscore_live`` setting allows; :func:`live_record`
is that decision, the call and the one line the report prints about it.
"""

from __future__ import annotations

from dataclasses import dataclass

from nsdval.analysis import peer


@dataclass(frozen=True)
class LiveNotes:
    """A report's one-line notes on live scoring.

    ``{detail}`` is Brain-Score's version or why it is missing, ``{error}`` the first line of
    what it raised.
    """

    off: str
    missing: str
    failed: str
    done: str


def live_record(load, score, *, enabled, notes):
    """Score a report's files live with Brain-Score's classes, when they can be used.

    Parameters
    ----------
    load : callable
        No arguments: the scorer's inputs (the activations); called only when Brain-Score
        imports, and what it raises goes to the caller (an unreadable file).
    score : callable
        ``score(inputs)`` -> record. Whatever it raises becomes an error record: Brain-Score
        fails in many ways on inconsistent files.
    enabled : bool
        ``False`` skips Brain-Score even when it is installed.
    notes : LiveNotes
        The report's lines.

    Returns
    -------
    record : dict or None
        ``score``'s record; None when Brain-Score is not used; ``{"subjects": {}, "error":
        ...}`` when it raised.
    note : str
    """
    if not enabled:
        return None, notes.off
    available, detail = peer.brainscore_status()
    if not available:
        return None, notes.missing.format(detail=detail)
    inputs = load()
    try:
        record = score(inputs)
    except Exception as exc:  # Brain-Score fails in many ways on inconsistent files
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return {"subjects": {}, "error": error}, notes.failed.format(detail=detail, error=error)
    return record, notes.done.format(detail=detail)
