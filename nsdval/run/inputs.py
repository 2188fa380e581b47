"""A run's inputs: read before OUT is touched, extracted once per subject, described.

Every input the reports need is read before the output folder is created or changed: the
pre-flight (:func:`check_readable`) and the extraction pass (:func:`extract_subjects`) run
in watched child processes (:mod:`nsdval.data.watched`), and an input that cannot be read
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


def extract_subjects(layout, subjects, *, config, cache_dir, executor=None, on_progress=None):
    """Read every region of each subject in one pass, subjects in parallel, before any report.

    The extractions are written to a staging folder beside OUT and moved into
    ``cache_dir`` only when every subject could be read, so an unreadable input leaves OUT
    as it was. With ``config.cache`` off the pass still runs (no report may run on data
    that could not be read) and its result is dropped. With the local executor (or none)
    each subject is read in a watched child process (:mod:`nsdval.data.watched`); with a
    dask executor, by the cluster's workers.

    Raises
    ------
    InputError
        A file a subject's extraction needs cannot be read (named), or made its reader
        stall or die.
    """
    if not subjects:
        return
    cache_dir = Path(cache_dir)
    beside_out = existing_folder(cache_dir.parent)
    staging = Path(tempfile.mkdtemp(prefix=".nsdval-extract-", dir=beside_out))
    try:
        kwargs = {
            "layout": layout,
            "regions": tuple(config.regions),
            "cache_dir": str(cache_dir),
            "staging_dir": str(staging),
        }
        if executor is None or isinstance(executor, pool.LocalExecutor):
            _extract_watched(subjects, kwargs, config=config, on_progress=on_progress)
        else:
            for outcome in executor.map_as_completed(_extract_subject, list(subjects), **kwargs):
                if isinstance(outcome.error, NsdvalError):
                    raise outcome.error
        if config.cache:
            cache_dir.mkdir(parents=True, exist_ok=True)
            for staged in sorted(staging.glob("*.npz")):
                staged.replace(cache_dir / staged.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract_watched(subjects, kwargs, *, config, on_progress):
    calls = [
        (_extract_subject, {**kwargs, "subject": s}, kwargs["layout"].subject_betas_dir(s))
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


def _extract_subject(subject, *, layout, regions, cache_dir, staging_dir):
    """One subject's extraction; unreadable input raises, anything else is left to the reports.

    A failure that is not about the input (a bug, memory) leaves the subject out of the
    cache: its reports extract on their own and show the error, and the batch goes on.
    """
    try:
        cache.prepare_subject(layout, subject, regions, cache_dir, staging_dir=staging_dir)
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
