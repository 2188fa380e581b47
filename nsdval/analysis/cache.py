"""On-disk cache of a subject's raw-bypass extraction, keyed on its input files.

The runner extracts every region of a subject in one pass over its sessions and stores
the result; each (subject, region) report then loads its region instead of reading the
raw betas again. The key covers every file the extraction reads (size, modification time
and a checksum of its first bytes, which hold the HDF5 or NIfTI header), the images asked
for, and the nsdval version, so a changed input is never served from a stale cache.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

import nsdval
from nsdval import atomic
from nsdval.analysis import extraction
from nsdval.data import preflight, watched
from nsdval.data.expdesign import load_expdesign
from nsdval.data.fingerprint import file_fingerprint
from nsdval.data.layout import subject_label
from nsdval.data.spaces import open_space

FORMAT = 3
FIELDS = ("coords", "trials", "betas", "session_mean", "session_std", "ncsnr")
SCALARS = ("n_sessions", "trials_per_session", "psc_divisor")


def subject_inputs(space, subject):
    """Every file a subject's extraction reads: the design and the space's raw files."""
    return [space.layout.expdesign(), *space.subject_inputs(subject)]


def cache_key(space, subject, nsd_ids):
    """Hex key of a subject's extraction inputs."""
    digest = hashlib.sha256()
    parts = [
        nsdval.__version__,
        str(FORMAT),
        *map(file_fingerprint, subject_inputs(space, subject)),
    ]
    parts.append(",".join(str(int(i)) for i in np.sort(np.asarray(nsd_ids))))
    digest.update("\n".join(parts).encode())
    return digest.hexdigest()[:32]


def cache_file(cache_dir, space, subject, nsd_ids):
    """Where a subject's extraction is cached."""
    return Path(cache_dir) / f"{subject_label(subject)}-{cache_key(space, subject, nsd_ids)}.npz"


def save(path, extractions, reads=None):
    """Write a dict of region -> RegionExtraction to ``path`` atomically.

    ``reads`` (file -> SHA-256 of the bytes the extraction read from it, see
    :class:`~nsdval.analysis.extraction.ReadLog`) is kept beside the arrays for the run manifest.
    """
    arrays = {}
    for region, ext in extractions.items():
        arrays.update({f"{region}/{name}": getattr(ext, name) for name in FIELDS})
    first = next(iter(extractions.values()))
    arrays["nsd_ids"] = first.nsd_ids
    meta = {"regions": list(extractions), "reads": reads or {}}
    meta.update({name: getattr(first, name) for name in SCALARS})
    arrays["meta"] = np.array(json.dumps(meta))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic.writing(path) as handle:  # streamed: no in-memory copy of the arrays
        np.savez(handle, **arrays)


def load_meta(path):
    """The regions, session count and read digests of a cached extraction."""
    with np.load(path) as data:
        return json.loads(str(data["meta"]))


def load(path, region):
    """One region of a cached extraction, or ``None`` if the file lacks that region."""
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        if region not in meta["regions"]:
            return None
        fields = {name: data[f"{region}/{name}"] for name in FIELDS}
        scalars = {name: meta[name] for name in SCALARS}
        return extraction.RegionExtraction(nsd_ids=data["nsd_ids"], **fields, **scalars)


def read_digests(cache_dir):
    """What the cached extractions in ``cache_dir`` read: file -> digest, size and mtime.

    Stale entries (a file changed since) are told apart by their size and mtime.
    """
    found = {}
    for path in sorted(Path(cache_dir).glob("*.npz")):
        try:
            found.update(load_meta(path).get("reads") or {})
        except (OSError, ValueError, KeyError):  # a cache file of another format
            continue
    return found


def holds_regions(path, regions):
    """True when ``path`` is a cached extraction of (at least) ``regions``."""
    return Path(path).is_file() and set(regions) <= set(load_meta(path)["regions"])


def extract_subject_cached(
    space, design, subject, regions, nsd_ids, cache_dir, *, staging_dir=None, progress=None
):
    """Extract several regions of a subject, from the cache when it holds them all.

    A new extraction is written to ``cache_dir``, or to ``staging_dir`` when given (the
    runner moves it into the cache once every subject could be read).
    """
    path = cache_file(cache_dir, space, subject, nsd_ids)
    if holds_regions(path, regions):
        return {region: load(path, region) for region in regions}
    target = Path(staging_dir or cache_dir) / path.name
    return extract_and_save(space, design, subject, regions, nsd_ids, target, progress=progress)


def extract_and_save(space, design, subject, regions, nsd_ids, target, *, progress=None):
    """Extract a subject's regions and write them, with what was read, to ``target``."""
    log = extraction.ReadLog()
    result = extraction.extract_subject(
        space, design, subject, regions, nsd_ids, log=log, progress=progress
    )
    save(target, result, reads=log.summary())
    return result


def region_extraction(space, design, subject, region, nsd_ids, cache_dir=None):
    """One subject's region: from the cache when present, else extracted now (not cached)."""
    if cache_dir:
        path = cache_file(cache_dir, space, subject, nsd_ids)
        if path.is_file():
            found = load(path, region)
            if found is not None:
                return found
    return extraction.extract_region(space, design, subject, region, nsd_ids)


def reference_ids(space, design):
    """The images the reports ask for: shared and shown three times to every subject."""
    subjects = preflight.assembly_subjects(space.layout)
    return extraction.reference_images(space, design, subjects)


def prepare_subject(layout, subject, regions, cache_dir, *, staging_dir=None):
    """Extract one subject's regions for the reports, unless the cache holds them already.

    ``layout`` is the tree; its raw files are read through its data space.

    Returns
    -------
    path : Path or None
        The new extraction (in ``staging_dir`` when given, else ``cache_dir``); ``None``
        when the cache already held it.

    Raises
    ------
    InputError
        A file the extraction needs cannot be read.
    """
    space = open_space(layout)
    design = load_expdesign(layout.expdesign())
    ids = reference_ids(space, design)
    path = cache_file(cache_dir, space, subject, ids)
    if holds_regions(path, regions):
        return None

    def beat(done, n_sessions, log):
        watched.heartbeat(
            None,
            subject=subject_label(subject),
            sessions_done=done,
            n_sessions=n_sessions,
            bytes_read=log.bytes_read,
        )

    target = Path(staging_dir or cache_dir) / path.name
    extract_and_save(space, design, subject, regions, ids, target, progress=beat)
    return target
