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
from nsdval.layout import REGIONS

HEADER_BYTES = 64 * 1024


def file_fingerprint(path):
    """Size, mtime and SHA-256 of the first bytes of a file, as one string."""
    path = Path(path)
    stat = path.stat()
    with path.open("rb") as handle:
        head = hashlib.sha256(handle.read(HEADER_BYTES)).hexdigest()
    return f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}:{head}"


def report_inputs(layout, *, subject, region, subjects, regions):
    """Files one report reads: all for the layout report, else its subject and region's."""
    if subject is None:
        return layout.input_files(subjects, regions)
    return layout.input_files([subject], [region])


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
    """Report records of an earlier run in ``out``, by id; empty when there is none."""
    path = Path(out) / "results.json"
    try:
        results = json.loads(path.read_text())
        return {record["id"]: record for record in results["reports"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def previous_inputs(out):
    """Input entries of the earlier run's manifest in ``out``; empty when there is none."""
    try:
        return json.loads((Path(out) / "manifest.json").read_text()).get("inputs") or []
    except (OSError, ValueError, AttributeError):
        return []


def is_current(record, fingerprint, out):
    """True when an earlier record can stand for this run's report."""
    return bool(
        record
        and record.get("fingerprint") == fingerprint
        and record.get("status") != "error"
        and all((Path(out) / record[key]).is_file() for key in ("notebook", "html"))
    )


def layout_regions(regions, previous):
    """Regions the layout report covers: this run's and those of the reports kept from before."""
    found = set(regions) | {r["region"] for r in previous.values() if r.get("region")}
    return tuple(r for r in REGIONS if r in found) + tuple(sorted(found - set(REGIONS)))


def merge(planned, records, previous):
    """Records of the planned reports in plan order, then earlier ones not planned now."""
    planned_ids = [job.id for job in planned]
    kept = [r for rid, r in previous.items() if rid not in planned_ids]
    return [records[rid] for rid in planned_ids] + kept
