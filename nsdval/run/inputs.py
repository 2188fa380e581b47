"""A run's inputs: read before OUT is touched, extracted once per space and subject, described.

Every input the reports need is read before the output folder is created or changed: the
pre-flight (:func:`check_readable`) and the extraction pass (:func:`extract_subjects`, once
per space and subject for every family of the space, :func:`extraction_groups`) run in
watched child processes (:mod:`nsdval.data.watched`), and an input that cannot be read
stops the run with an :class:`~nsdval.errors.InputError`. The manifest's description of
the inputs (:func:`describe_run_inputs`) is made once the reports have run.
"""

from __future__ import annotations

import shutil
import tempfile
from functools import partial
from pathlib import Path

from nsdval.analysis import cache
from nsdval.data import watched
from nsdval.data.layout import subject_label
from nsdval.data.preflight import check_inputs_watched
from nsdval.errors import NsdvalError
from nsdval.release import manifest
from nsdval.run import incremental, pool
from nsdval.run.plan import CACHE_DIR


def check_readable(layout, subjects, config):
    """The pre-flight: read and check every input the run's reports need; nothing is written.

    Raises
    ------
    InputError
        An input cannot be read, or is not what the reports need (named).
    """
    check_inputs_watched(
        layout,
        subjects,
        config.regions,
        timeout=config.read_timeout,
        context=pool.pool_context(),
    )


def extraction_groups(todo, runs):
    """What the extraction pass reads, one group per space: the families and their subjects.

    The families of a space read the same raw files, so each subject of a space is read once,
    for every family whose jobs to execute need it (:func:`extract_subjects`).

    Parameters
    ----------
    todo : sequence of Job
        The jobs to execute.
    runs : sequence of FamilyRun
        The run's families.

    Returns
    -------
    list of list of (NsdLayout, tuple of int)
        Per space, in the order of ``runs``: each family's layout and the subjects its jobs
        need (families that need none are left out, and so are spaces).
    """
    groups = {}
    for run in runs:
        key = run.family.key
        subjects = sorted({j.subject for j in todo if j.subject is not None and j.family == key})
        if subjects:
            groups.setdefault(run.layout.space, []).append((run.layout, tuple(subjects)))
    return list(groups.values())


def subject_layouts(families):
    """Subject -> the layouts of the families (of one space) that need it, subjects sorted.

    Examples
    --------
    >>> subject_layouts([("eight", (1, 3)), ("four", (1,))])
    {1: ('eight', 'four'), 3: ('eight',)}
    """
    needs = {}
    for layout, subjects in families:
        for subject in subjects:
            needs.setdefault(subject, []).append(layout)
    return {subject: tuple(needs[subject]) for subject in sorted(needs)}


def extract_subjects(families, *, config, cache_dir, executor=None, on_progress=None):
    """Read every region of each subject in one pass, subjects in parallel, before any report.

    ``families`` are the families of one space with the subjects each needs (a group of
    :func:`extraction_groups`): a subject is read once, for the union of the images its
    families' reports ask for (:func:`nsdval.analysis.cache.union_reference_ids`). The
    extractions are written to a staging folder beside OUT and moved into ``cache_dir`` only
    when every subject could be read, so an unreadable input leaves OUT as it was. With
    ``config.cache`` off the pass still runs (no report may run on data that could not be
    read) and its result is dropped. With the local executor (or none) each subject is read
    in a watched child process (:mod:`nsdval.data.watched`); with a dask executor, by the
    cluster's workers.

    Raises
    ------
    InputError
        A file a subject's extraction needs cannot be read (named), or made its reader
        stall or die.
    """
    needs = subject_layouts(families)
    if not needs:
        return
    cache_dir = Path(cache_dir)
    beside_out = existing_folder(cache_dir.parent)
    staging = Path(tempfile.mkdtemp(prefix=".nsdval-extract-", dir=beside_out))
    try:
        kwargs = {
            "regions": tuple(config.regions),
            "cache_dir": str(cache_dir),
            "staging_dir": str(staging),
        }
        if executor is None or isinstance(executor, pool.LocalExecutor):
            _extract_watched(needs, kwargs, config=config, on_progress=on_progress)
        else:
            items = list(needs.items())
            for outcome in executor.map_as_completed(_extract_need, items, **kwargs):
                if isinstance(outcome.error, NsdvalError):
                    raise outcome.error
        if config.cache:
            cache_dir.mkdir(parents=True, exist_ok=True)
            for staged in sorted(staging.glob("*.npz")):
                staged.replace(cache_dir / staged.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract_watched(needs, kwargs, *, config, on_progress):
    subjects = list(needs)
    calls = [
        (
            _extract_subject,
            {**kwargs, "subject": s, "layouts": needs[s]},
            needs[s][0].subject_betas_dir(s),
        )
        for s in subjects
    ]

    def beat(index, path, info):
        if on_progress is not None and "sessions_done" in info:
            on_progress(info["subject"], info)

    finished = watched.run_watched(
        calls,
        timeout=config.read_timeout,
        jobs=config.jobs,
        on_beat=beat,
        context=pool.pool_context(),
    )
    for index, _ in finished:
        if on_progress is not None:
            on_progress(subject_label(subjects[index]), {"finished": True})


def _extract_need(need, **kwargs):
    """:func:`_extract_subject` of one ``(subject, layouts)`` item (executor workers)."""
    subject, layouts = need
    _extract_subject(subject, layouts=layouts, **kwargs)


def _extract_subject(subject, *, layouts, regions, cache_dir, staging_dir):
    """One subject's extraction; unreadable input raises, anything else is left to the reports.

    ``layouts`` are those of the families (of one space) that need the subject: it is read
    once, for the union of their reports' images. A failure that is not about the input (a
    bug, memory) leaves the subject out of the cache: its reports extract on their own and
    show the error, and the batch goes on.
    """
    try:
        ids = cache.union_reference_ids(layouts)
        cache.prepare_subject(
            layouts[0], subject, regions, cache_dir, staging_dir=staging_dir, nsd_ids=ids
        )
    except NsdvalError:
        raise
    except Exception:  # the subject's reports extract on their own and show the error
        pass


def existing_folder(path):
    """``path``'s nearest ancestor that exists (the staging folder's place)."""
    for folder in Path(path).resolve().parents:
        if folder.is_dir():
            return folder
    return Path.cwd()


def describe_run_inputs(runs, regions, *, config, out, on_progress=None):
    """The manifest's input entries of every family of a run, as ``config.hash_mode`` asks.

    ``regions`` maps a family key to the regions its reports cover.
    """
    files = {}
    for run in runs:
        found = run.layout.input_files(run.subjects, regions[run.family.key])
        files.update(dict.fromkeys(found))
    return manifest.describe_inputs(
        list(files),
        root=runs[0].layout.root,
        hash_mode=config.hash_mode,
        previous=incremental.previous_inputs(out),
        reads=cache.read_digests(Path(out) / CACHE_DIR),
        on_progress=None if on_progress is None else partial(on_progress, None),
    )
