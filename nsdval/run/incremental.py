"""Incremental runs: which reports of an existing run folder are still current.

Every report record carries a fingerprint of what produced it: the template's content,
the parameters, the nsdval version, and the size, modification time and header checksum
of every input file the report reads (plus the session listing of every subject, which
decides the image set). A new run into the same folder executes only the reports whose
fingerprint changed (``--force`` executes all); reports it does not plan are kept as they
were.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nsdval
from nsdval.analysis.record import ReportRecord, results_from_json
from nsdval.data.fingerprint import file_fingerprint
from nsdval.data.layout import REGIONS
from nsdval.errors import InputError

FORCE_HINT = "--force runs every report without reading it"


def report_inputs(layout, *, subject, region, subjects, regions):
    """Files one report reads: all for the structure report, else its subject's and region's.

    A region-level report (``benchmark_rdm``: a region, no subject) reads its region's
    assemblies and benchmark files and no subject's betas.
    """
    if subject is None and region is None:
        return layout.input_files(subjects, regions)
    return layout.input_files([] if subject is None else [subject], [region])


def job_fingerprint(job, *, template_path, inputs, sessions):
    """Hex digest of everything a report's result depends on.

    Parameters
    ----------
    job : Job
        The planned report.
    template_path : Path
        Its template notebook.
    inputs : sequence of Path
        The files it reads.
    sessions : dict
        Subject -> session numbers, for every subject of the tree.
    """
    digest = hashlib.sha256()
    parts = [
        nsdval.__version__,
        hashlib.sha256(Path(template_path).read_bytes()).hexdigest(),
        json.dumps(job.parameters, sort_keys=True),
        json.dumps({str(k): v for k, v in sessions.items()}, sort_keys=True),
        *sorted(f"{p.parent.name}/{file_fingerprint(p)}" for p in inputs),
    ]
    digest.update("\n".join(parts).encode())
    return digest.hexdigest()


def previous_records(out):
    """Report records of earlier runs in ``out``, by id; empty when there is none.

    The run's ``results.json`` lists the reports of the last finished run. A report's own
    sidecar is written when the report finishes, so a run that was interrupted leaves
    sidecars newer than ``results.json``; those records (with their fingerprints) take
    precedence, and the next run does not execute those reports again.

    Raises
    ------
    InputError
        A run's ``results.json`` or a fingerprinted sidecar in ``out`` that cannot be read
        back (another schema version, a malformed record), named.
    """
    out = Path(out)
    records = {record.id: record for record in listed_records(out)}
    for path in sorted(out.glob("*/results.json")) + sorted(out.glob("*/*/results.json")):
        record = sidecar_record(path)
        if record is not None:
            records[record.id] = record
    return records


def listed_records(out):
    """The records ``OUT/results.json`` lists; none when it is absent or no run's results."""
    try:
        payload = json.loads((Path(out) / "results.json").read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(payload, dict) or not isinstance(payload.get("reports"), list):
        return []
    try:
        return results_from_json(payload, source=out)["reports"]
    except InputError as exc:
        raise InputError(exc.path, f"{exc.problem}; {FORCE_HINT}") from exc


def sidecar_record(path):
    """The :class:`ReportRecord` a report's sidecar holds, or ``None`` if it holds none.

    Only sidecars that carry a fingerprint count: they were written by a run that planned
    the report, not by an older nsdval or a hand-made file.
    """
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(payload, dict) or not payload.get("fingerprint") or "id" not in payload:
        return None
    try:
        return ReportRecord.from_dict({k: v for k, v in payload.items() if k != "extra"})
    except ValueError as exc:
        raise InputError(path, f"{exc}; {FORCE_HINT}") from exc


def previous_inputs(out):
    """Input entries of the earlier run's manifest in ``out``; empty when there is none."""
    try:
        return json.loads((Path(out) / "manifest.json").read_text()).get("inputs") or []
    except (OSError, ValueError, AttributeError):
        return []


def is_current(record, job, out):
    """True when an earlier record can stand for this run's report ``job`` (fingerprinted)."""
    return bool(
        record
        and record.fingerprint == job.fingerprint
        and record.status != "error"
        and all(path and (Path(out) / path).is_file() for path in (record.notebook, record.html))
    )


def structure_regions(regions, previous):
    """Regions the structure report covers: this run's and those of the reports kept before."""
    found = set(regions) | {r.region for r in previous.values() if r.region}
    return tuple(r for r in REGIONS if r in found) + tuple(sorted(found - set(REGIONS)))


def merge(planned, records, previous):
    """Records of the planned reports in plan order, then earlier ones not planned now."""
    planned_ids = [job.id for job in planned]
    kept = [r for rid, r in previous.items() if rid not in planned_ids]
    return [records[rid] for rid in planned_ids] + kept
