"""The record of one report: what one executed notebook found, as a typed value.

:mod:`nsdval.run.execution` makes a :class:`ReportRecord` when a report's notebook has run
and writes it as the report's sidecar (``results.json`` beside the notebook); the run lists
every record in its own ``results.json``. The pages render records (:mod:`nsdval.pages`);
the release tools archive, verify and compare them (:mod:`nsdval.release`); incremental
runs and ``nsdval rerun`` read them back.

The record lives on the analysis floor, beside :class:`~nsdval.analysis.checks.CheckResult`
whose statuses and dict form it holds: the run, the pages and the release tools all use it,
and pages and release may both import analysis but not each other. On the base floor it
would have needed the statuses moved out of :mod:`nsdval.analysis.checks`.

Its JSON form (:meth:`ReportRecord.to_dict`) is every field in a fixed order: exactly what
the run's ``results.json`` lists per report. As with the checks, whose version the sidecar
carries rather than each check, the version of that form, :data:`SCHEMA_VERSION`, is
written by the files holding records: at the top of ``results.json`` and beside the
record's keys in a sidecar. :meth:`ReportRecord.from_dict` accepts either shape and refuses
another version with a message that says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from nsdval.analysis.checks import STATUSES
from nsdval.errors import InputError, MissingInputError

SCHEMA_VERSION = 3
"""Version of a record's JSON form and of the files holding records (sidecar, results.json).

Version 2 added ``family``; records of version 1 are read as the volume 8-subject family's
(the only one nsdval validated then). Version 3 names the unit and ncsnr-file checks for
the space (:data:`SURFACE_RENAMES`) and the raw bypass section for no format
(:data:`SECTION_RENAMES`); records of earlier versions are read with the new names.
"""
READABLE_VERSIONS = (1, 2, SCHEMA_VERSION)
DEFAULT_FAMILY = "volume_8subj"
SURFACE_RENAMES = {
    "voxel-count": "vertex-count",
    "voxel-coords": "vertex-coords",
    "ncsnr-volume": "ncsnr-surface",
    "nc-testset-volume": "nc-testset-surface",
}
"""Check names of a surface report before version 3 -> since (the volume keeps its names)."""
SECTION_RENAMES = {"2. Raw HDF5 bypass": "2. Raw betas bypass"}
"""Check sections before version 3 -> since, in every family."""

RESULTS = "results.json"
REQUIRED = ("id", "template", "status")
"""Keys a record's JSON form must hold; the others default (``fingerprint`` came later)."""


@dataclass(frozen=True, kw_only=True)
class ReportRecord:
    """The outcome of one report: one template notebook executed for one scope.

    Frozen: change a record with :func:`dataclasses.replace`. The dicts it holds are not
    copied when read; treat them as read-only (:meth:`to_dict` returns copies).

    Attributes
    ----------
    id : str
        Stable identifier, e.g. ``"subj01-V4-assembly_validation"``.
    template : str
        Template notebook, e.g. ``"assembly_validation"``.
    subject, region : str or None
        Scope, e.g. ``"subj01"`` and ``"V4"``; ``None`` for the family-wide structure report.
    family : str
        The assembly family the report validates (``volume_8subj``, ``surface_4subj``, see
        :mod:`nsdval.data.families`).
    status : {'pass', 'warn', 'fail', 'error'}
        Worst status of the checks, or ``error`` when the notebook recorded none.
    notebook, html : str or None
        Run-relative paths of the executed notebook and of its page.
    seconds : float or None
        How long the notebook ran.
    parameters : dict
        The template parameters the report was executed with.
    checks : tuple of dict
        Its checks in the order recorded, each as :meth:`CheckResult.to_dict` gives it.
    error : dict or None
        ``ename``, ``evalue``, ``cell_index``, ``traceback`` (and ``cell_source`` when
        known) of the exception that stopped the notebook.
    rerun : dict or None
        ``at`` (ISO time) and ``overrides`` of a report re-executed by ``nsdval rerun``.
    benchmark : dict or None
        The benchmark summary the notebook's sidecar carried.
    fingerprint : str or None
        Digest of everything the report depends on (:mod:`nsdval.run.incremental`);
        ``None`` in records of an nsdval without incremental runs.
    """

    id: str
    template: str
    subject: str | None = None
    region: str | None = None
    family: str = DEFAULT_FAMILY
    status: str
    notebook: str | None = None
    html: str | None = None
    seconds: float | None = None
    parameters: dict = field(default_factory=dict)
    checks: tuple = ()
    error: dict | None = None
    rerun: dict | None = None
    benchmark: dict | None = None
    fingerprint: str | None = None

    def __post_init__(self):
        for name in ("id", "template"):
            if not isinstance(getattr(self, name), str):
                value = getattr(self, name)
                raise ValueError(f"a report record's {name} is a string, not {value!r}")
        if self.status not in STATUSES:
            raise ValueError(
                f"report {self.id!r} has status {self.status!r}; expected one of {STATUSES}"
            )
        object.__setattr__(self, "checks", _checks(self.checks, self.id))

    def to_dict(self):
        """The record's JSON form: a fresh dict of every field, in order, checks as a list.

        Examples
        --------
        >>> list(ReportRecord(id="r", template="t", status="pass").to_dict())[:6]
        ['id', 'template', 'subject', 'region', 'family', 'status']
        """
        out = asdict(self)
        out["checks"] = list(out["checks"])
        return out

    @classmethod
    def from_dict(cls, data, *, version=SCHEMA_VERSION):
        """Read a record back from its JSON form, that of a sidecar included.

        Parameters
        ----------
        data : Mapping
            :meth:`to_dict`'s keys; ``id``, ``template`` and ``status`` are required, the
            others default. A ``schema_version`` key (a sidecar's) must be
            one of :data:`READABLE_VERSIONS`; without one the record is of ``version``
            (``results.json`` carries the version of the records it lists).
        version : int
            The version of a record without its own ``schema_version``.

        Raises
        ------
        ValueError
            Naming the problem: not a mapping, another schema version, a required key
            missing, a key that is no field of the record, or an unknown status.

        Examples
        --------
        >>> ReportRecord.from_dict({"id": "r", "template": "t", "status": "warn"}).status
        'warn'
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a report record is a JSON object, not {type(data).__name__}")
        values = dict(data)
        version = values.pop("schema_version", version)
        check_schema_version(version, what=f"report record {values.get('id')!r}")
        _check_keys(values)
        return cls(**upgraded(values, version))


def upgraded(values, version):
    """A record's JSON values of an earlier ``version`` with this version's check names.

    Examples
    --------
    >>> old = {"family": "surface_8subj", "checks": [{"name": "voxel-coords"}, {"name": "x"}]}
    >>> [c["name"] for c in upgraded(old, 2)["checks"]]
    ['vertex-coords', 'x']
    >>> old = {"family": "volume_8subj", "checks": [{"name": "voxel-coords", "section": "x"}]}
    >>> upgraded(old, 2)["checks"]
    [{'name': 'voxel-coords', 'section': 'x'}]
    """
    checks = values.get("checks")
    if version >= 3 or not isinstance(checks, (list, tuple)):
        return values
    names = SURFACE_RENAMES if str(values.get("family", "")).startswith("surface") else {}
    return {**values, "checks": [renamed(check, names) for check in checks]}


def renamed(check, names):
    """A check's dict with its name renamed by ``names``, its section by :data:`SECTION_RENAMES`.

    Anything else, and a check that is no dict, stays as it is.
    """
    if not isinstance(check, Mapping):
        return check
    out = dict(check)
    for key, table in (("name", names), ("section", SECTION_RENAMES)):
        if isinstance(out.get(key), str):
            out[key] = table.get(out[key], out[key])
    return out


FIELDS = tuple(f.name for f in fields(ReportRecord))
"""The record's keys, in the order of its JSON form."""


def _checks(checks, rid):
    """``checks`` as a tuple of shallow copies, refusing anything but a sequence of dicts."""
    if not isinstance(checks, (list, tuple)) or not all(isinstance(c, Mapping) for c in checks):
        raise ValueError(f"report {rid!r}: checks must be a list of objects, got {checks!r}")
    return tuple(dict(check) for check in checks)


def _check_keys(values):
    """Refuse a record's JSON form that lacks a required key or holds an unknown one."""
    rid = values.get("id")
    missing = [key for key in REQUIRED if key not in values]
    if missing:
        raise ValueError(f"report record {rid!r} lacks {', '.join(missing)}")
    unknown = [key for key in values if key not in FIELDS]
    if unknown:
        raise ValueError(f"report record {rid!r} has unknown keys {', '.join(unknown)}")


def check_schema_version(version, *, what):
    """Refuse a schema version not in :data:`READABLE_VERSIONS`, saying whose it may be.

    Examples
    --------
    >>> check_schema_version(4, what="run")
    Traceback (most recent call last):
    ...
    ValueError: run has schema_version 4, this nsdval reads 1, 2 and 3: written by a newer nsdval
    """
    if type(version) is int and version in READABLE_VERSIONS:
        return
    newer = type(version) is int and version > SCHEMA_VERSION
    whose = "written by a newer nsdval" if newer else "not written by nsdval"
    raise ValueError(
        f"{what} has schema_version {version!r}, this nsdval reads "
        f"{', '.join(map(str, READABLE_VERSIONS[:-1]))} and {READABLE_VERSIONS[-1]}: {whose}"
    )


def results_from_json(payload, *, source):
    """A run's ``results.json`` content with its reports read back as records.

    Parameters
    ----------
    payload : dict
        The parsed file; a missing top-level ``schema_version`` counts as this version.
    source : str or Path
        What to name in an error: the run folder or archive.

    Returns
    -------
    dict
        ``payload``'s keys in its order, ``reports`` a list of :class:`ReportRecord`.

    Raises
    ------
    InputError
        The payload is no run's results, is of another schema version, or lists a record
        :meth:`ReportRecord.from_dict` refuses.
    """
    if not isinstance(payload, Mapping) or not isinstance(payload.get("reports"), list):
        raise InputError(source, f"{RESULTS} has no list of reports")
    version = payload.get("schema_version", SCHEMA_VERSION)
    try:
        check_schema_version(version, what=RESULTS)
    except ValueError as exc:
        raise InputError(source, str(exc)) from exc
    try:
        reports = [ReportRecord.from_dict(r, version=version) for r in payload["reports"]]
    except ValueError as exc:
        raise InputError(source, f"{RESULTS}: {exc}") from exc
    return {**payload, "reports": reports}


def results_to_json(results):
    """A run's results with its reports in their JSON form, ready for ``results.json``."""
    return {**results, "reports": [record.to_dict() for record in results["reports"]]}


def read_results(run_dir):
    """Read ``RUN_DIR/results.json`` with its reports as records.

    Raises
    ------
    MissingInputError
        There is no ``results.json`` in ``run_dir``.
    InputError
        It is not JSON, or :func:`results_from_json` refuses it.
    """
    path = Path(run_dir) / RESULTS
    if not path.is_file():
        raise MissingInputError(path, "run results.json")
    try:
        payload = json.loads(path.read_bytes())
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"not valid JSON ({exc})") from exc
    return results_from_json(payload, source=run_dir)
