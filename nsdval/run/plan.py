"""What a run is: its configuration, and the jobs planned from its templates and its tree.

A run validates every assembly family the tree holds (:mod:`nsdval.data.families`; the
``spaces`` and ``variants`` of :class:`RunConfig` choose some) and expands into jobs, per
family: ``assembly_structure`` once, ``assembly_validation`` per subject and region, and
``benchmark_rdm`` per region (the ``-rdm`` benchmark needs every subject at once). Each
job has the parameters its template declares and a fingerprint of its inputs
(:mod:`nsdval.run.incremental`); the jobs an earlier run into the same folder left current
are kept instead of executed again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import papermill

from nsdval import resources
from nsdval.data import watched
from nsdval.data.families import (
    Family,
    choose_families,
    discover_families,
    family_layout,
    family_subjects,
)
from nsdval.data.layout import REGIONS, subject_label
from nsdval.errors import MissingInputError, ParameterError
from nsdval.release import manifest
from nsdval.run import incremental
from nsdval.run.execution import template_path

VALIDATION = "assembly_validation"
STRUCTURE = "assembly_structure"
RDM = "benchmark_rdm"
TEMPLATES = (STRUCTURE, VALIDATION, RDM)
REPORT_KINDS = {"structure": STRUCTURE, "validation": VALIDATION, "rdm": RDM}
"""``--reports`` names -> the templates they plan."""
RESERVED = (
    "nsd_root",
    "subject",
    "region",
    "regions",
    "variant",
    "space",
    "results_path",
    "assemblies_dir",
    "brainscore_dir",
    "benchmark_dir",
)
CACHE_DIR = ".cache"


def default_notebooks_dir():
    """The template notebooks shipped beside the package."""
    return resources.shipped("notebooks")


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, decided by the command line.

    Attributes
    ----------
    nsd_root, out : Path
        Input tree and output folder.
    subjects : tuple of int or None
        Subjects to validate; ``None`` means every subject of the tree.
    regions : tuple of str
        Regions to validate.
    jobs : int
        Notebooks executed at once (with ``executor="local"``; with ``scheduler="local"``,
        the workers of the local dask cluster).
    executor : {'local', 'dask'}
        Where the jobs run: this machine's process pool, or a dask.distributed cluster.
    scheduler : str or None
        Address of the dask scheduler (``executor="dask"`` only), e.g.
        ``tcp://10.0.0.1:8786``; ``local`` or ``local:N`` starts a local cluster.
    parameters : dict
        Template parameter overrides (``-p name=value``).
    spaces, variants : tuple of str or None
        The families to validate, by space (``volume``, ``surface``) and variant (assembly
        file suffix, ``_8subj``, ``_4subj``); ``None`` means every one the tree holds.
    folders : dict
        ``assemblies_dir``, ``brainscore_dir``, ``benchmark_dir`` overrides.
    notebooks_dir : Path
        Folder of the template notebooks.
    timeout : float or None
        Seconds a cell may run.
    cache : bool
        Extract each subject's regions in one pass before the reports and let the reports
        load them from ``OUT/.cache`` instead of reading the raw betas again.
    force : bool
        Execute every planned report even when an earlier run in ``out`` left a current one.
    compare_with : Path or None
        A previous release's archive (or run folder) to compare this run with; the index
        links to the comparison page.
    command : str
        The command line, for the manifest.
    read_timeout : float
        Seconds an input file may take to open, or a session to read, before it counts as
        unreadable (see :mod:`nsdval.data.watched`).
    hash_mode : {'read', 'sha256', 'size-mtime'}
        How the manifest describes the inputs (see :mod:`nsdval.release.manifest`).
    warm_kernels : bool
        Fork each notebook's kernel from a zygote that has the templates' imports done
        (see :mod:`nsdval.run.zygote`); off, every kernel starts the plain way.
    templates : tuple of str
        The kinds of report planned (default all of :data:`TEMPLATES`).
    """

    nsd_root: Path
    out: Path
    subjects: tuple | None = None
    regions: tuple = REGIONS
    jobs: int = 1
    executor: str = "local"
    scheduler: str | None = None
    parameters: dict = field(default_factory=dict)
    spaces: tuple | None = None
    variants: tuple | None = None
    folders: dict = field(default_factory=dict)
    notebooks_dir: Path = field(default_factory=default_notebooks_dir)
    timeout: float | None = None
    cache: bool = True
    force: bool = False
    compare_with: Path | None = None
    command: str = ""
    read_timeout: float = watched.DEFAULT_TIMEOUT
    hash_mode: str = manifest.DEFAULT_HASH
    warm_kernels: bool = True
    templates: tuple = TEMPLATES


@dataclass(frozen=True)
class Job:
    """One notebook execution.

    ``fingerprint`` (see :mod:`nsdval.run.incremental`) goes into the report's record and
    sidecar, so the reports an interrupted run finished count as current in the next run.
    """

    id: str
    template: str
    subject: int | None
    region: str | None
    parameters: dict
    rel_dir: str
    fingerprint: str | None = None
    family: str = Family().key


@dataclass(frozen=True)
class FamilyRun:
    """One family of a run: its layout and the subjects validated."""

    family: Family
    layout: object
    subjects: tuple


def declared_parameters(path):
    """Parameters a template declares: name -> papermill's inferred type name."""
    found = papermill.inspect_notebook(str(path))
    if not found:
        raise ParameterError("parameters", f"{path} has no cell tagged 'parameters'")
    return {name: info["inferred_type_name"] for name, info in found.items()}


_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


def check_value_type(name, value, type_name):
    """Raise :class:`ParameterError` unless ``value`` fits the declared type."""
    allowed = _TYPES.get(type_name)
    if allowed is None:
        return
    wrong_bool = isinstance(value, bool) and type_name in ("int", "float")
    if wrong_bool or not isinstance(value, allowed):
        raise ParameterError(name, f"expected {type_name}, got {type(value).__name__} {value!r}")


def check_overrides(overrides, declared_by_template):
    """Refuse overrides that no template declares, that are reserved, or of the wrong type."""
    for name, value in overrides.items():
        if name in RESERVED:
            raise ParameterError(name, "is set by nsdval run itself; use the matching option")
        types = [d[name] for d in declared_by_template.values() if name in d]
        if not types:
            known = sorted({n for d in declared_by_template.values() for n in d} - set(RESERVED))
            raise ParameterError(name, f"unknown; templates declare {', '.join(known)}")
        for type_name in types:
            check_value_type(name, value, type_name)


def resolve_subjects(config, layout, family):
    """The subjects of a family to validate: the configured ones it has, else all of it."""
    found = layout.subjects()
    expected = family_subjects(family, found)
    if config.subjects is None:
        if not found:
            raise MissingInputError(layout.root, "subject folders with betas")
        chosen = expected
    else:
        chosen = [s for s in config.subjects if s in expected or s not in found]
    for subject in chosen:
        if subject not in found:
            raise MissingInputError(layout.subject_betas_dir(subject), "subject betas folder")
    return tuple(chosen)


def resolve_run(config):
    """What a run is about, checked against ``config`` before any input is read.

    Returns
    -------
    runs : list of FamilyRun
        The families to validate, each with its layout (its files for the subjects and
        regions checked to exist) and its subjects.
    declared : dict
        Template -> the parameters it declares (name -> type name); the overrides fit.
    """
    found = discover_families(config.nsd_root, **config.folders)
    runs = []
    for family in choose_families(found, spaces=config.spaces, variants=config.variants):
        layout = family_layout(config.nsd_root, family, **config.folders)
        subjects = resolve_subjects(config, layout, family)
        layout.validate(subjects, config.regions)
        runs.append(FamilyRun(family, layout, subjects))
    declared = declared_by_template(config.notebooks_dir)
    check_overrides(config.parameters, declared)
    return runs, declared


def declared_by_template(notebooks_dir):
    """Parameters each of a run's templates declares: template -> name -> type name."""
    return {
        template: declared_parameters(template_path(notebooks_dir, template))
        for template in TEMPLATES
    }


def plan_jobs(config, runs, declared_by_template, *, structure_regions=None):
    """Expand a run into its jobs: per family, structure, subject x region, region-level.

    The region-level report is the ``-rdm`` benchmark's (every subject at once).
    ``structure_regions`` maps a family key to the regions its structure report covers
    (default: the run's).
    """
    jobs = []
    for run in runs:
        regions = (structure_regions or {}).get(run.family.key, config.regions)
        jobs += _family_jobs(config, run, declared_by_template, regions)
    return jobs


def _family_jobs(config, run, declared_by_template, structure_regions):
    family = run.family
    base = {"nsd_root": str(Path(config.nsd_root).resolve()), "variant": family.variant}
    base["space"] = family.space
    base.update({k: str(Path(v).resolve()) for k, v in config.folders.items() if v})
    structure_params = {**base, "regions": ",".join(structure_regions)}
    if config.cache:
        base["cache_dir"] = str(Path(config.out).resolve() / CACHE_DIR)
    make = partial(_job, config=config, declared_by_template=declared_by_template, family=family)
    jobs = [make(STRUCTURE, None, None, structure_params, "structure")]
    for subject in run.subjects:
        for region in config.regions:
            params = {**base, "subject": int(subject), "region": region}
            jobs.append(
                make(VALIDATION, subject, region, params, f"{subject_label(subject)}/{region}")
            )
    for region in config.regions:
        jobs.append(
            make(RDM, None, region, {**structure_params, "region": region}, f"rdm/{region}")
        )
    return [job for job in jobs if job.template in config.templates]


def _job(template, subject, region, params, rel_dir, *, config, declared_by_template, family):
    declared = declared_by_template[template]
    extra = {k: v for k, v in config.parameters.items() if k in declared}
    params = {k: v for k, v in {**params, **extra}.items() if k in declared}
    scope = [family.prefix, subject and subject_label(subject), region]
    scope = "-".join(str(p) for p in scope if p)
    job_id = f"{scope}-{template}" if scope else template
    rel_dir = f"{family.prefix}/{rel_dir}" if family.prefix else rel_dir
    return Job(job_id, template, subject, region, params, rel_dir, family=family.key)


def plan_run(config, runs, declared, *, out, previous):
    """The run's jobs with their fingerprints, those to execute, and the records kept.

    Returns
    -------
    jobs : list of Job
        Every planned report.
    todo : list of Job
        Those an earlier run in ``out`` did not leave current.
    kept : dict
        Job id -> the earlier record that stands for it.
    """
    regions = {run.family.key: family_regions(config, run.family, previous) for run in runs}
    jobs = plan_jobs(config, runs, declared, structure_regions=regions)
    prints = fingerprints(jobs, runs, config=config, regions=regions)
    jobs = [replace(job, fingerprint=prints[job.id]) for job in jobs]
    todo = [job for job in jobs if not incremental.is_current(previous.get(job.id), job, out)]
    kept = {job.id: previous[job.id] for job in jobs if job not in todo}
    return jobs, todo, kept


def family_regions(config, family, previous):
    """Regions a family's structure report covers: this run's and its earlier reports'."""
    own = {rid: r for rid, r in previous.items() if r.family == family.key}
    return incremental.structure_regions(config.regions, own)


def fingerprints(jobs, runs, *, config, regions):
    """Fingerprint of every planned job (see :mod:`nsdval.run.incremental`)."""
    by_key = {run.family.key: run for run in runs}
    sessions = {
        key: {s: run.layout.sessions(s) for s in run.layout.subjects()}
        for key, run in by_key.items()
    }
    prints = {}
    for job in jobs:
        run = by_key[job.family]
        inputs = incremental.report_inputs(
            run.layout,
            subject=job.subject,
            region=job.region,
            subjects=run.subjects,
            regions=regions[job.family],
        )
        prints[job.id] = incremental.job_fingerprint(
            job,
            template_path=template_path(config.notebooks_dir, job.template),
            inputs=inputs,
            sessions=sessions[job.family],
        )
    return prints
