"""On-disk cache of a subject's raw-bypass extraction, keyed on its input files.

The runner extracts every region of a subject in one pass over its sessions and stores
the result; each (subject, region) report then loads its region instead of reading the
raw betas again. The key covers every file the extraction reads (size, modification time
and a checksum of its first bytes, which hold the HDF5 or NIfTI header) and the nsdval
version, so a changed input is never served from a stale cache. It does not cover the
images: a file holds its sorted NSD ids and serves any subset of them
(:func:`~nsdval.analysis.extraction.select_images` gives the arrays a direct extraction of
the subset gives), so the families of a space (8 subjects, 515 images; 4 subjects, 1000)
share one extraction per subject over the union of their images. An extraction that adds
regions or images replaces the file with one over everything both ask for.
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

FORMAT = 4
FIELDS = ("coords", "trials", "betas", "session_mean", "session_std", "ncsnr")
SCALARS = ("n_sessions", "trials_per_session", "psc_divisor")


def subject_inputs(space, subject):
    """Every file a subject's extraction reads: the design and the space's raw files."""
    return [space.layout.expdesign(), *space.subject_inputs(subject)]


def cache_key(space, subject):
    """Hex key of a subject's extraction inputs (not of its images: see :func:`load`)."""
    digest = hashlib.sha256()
    parts = [
        nsdval.__version__,
        str(FORMAT),
        *map(file_fingerprint, subject_inputs(space, subject)),
    ]
    digest.update("\n".join(parts).encode())
    return digest.hexdigest()[:32]


def cache_file(cache_dir, space, subject):
    """Where a subject's extraction is cached, whatever images it holds."""
    return Path(cache_dir) / f"{subject_label(subject)}-{cache_key(space, subject)}.npz"


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


def contents(path):
    """The regions and images (sorted NSD ids) of a cached extraction."""
    with np.load(path) as data:
        return json.loads(str(data["meta"]))["regions"], data["nsd_ids"]


def load(path, region, nsd_ids=None):
    """One region of a cached extraction, for the images ``nsd_ids`` (default: all it holds).

    Returns
    -------
    RegionExtraction or None
        What a direct extraction of those images gives (:func:`extraction.select_images`);
        ``None`` if the file lacks the region or one of the images.
    """
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        held = data["nsd_ids"]
        if region not in meta["regions"] or not covers(held, nsd_ids):
            return None
        fields = {name: data[f"{region}/{name}"] for name in FIELDS}
        scalars = {name: meta[name] for name in SCALARS}
    found = extraction.RegionExtraction(nsd_ids=held, **fields, **scalars)
    return found if nsd_ids is None else extraction.select_images(found, nsd_ids)


def covers(held, nsd_ids):
    """Whether the images ``held`` include every one of ``nsd_ids`` (``None``: nothing asked).

    Examples
    --------
    >>> covers(np.array([2, 5, 9]), [9, 2]), covers(np.array([2, 5]), [3]), covers([], None)
    (True, False, True)
    """
    return nsd_ids is None or bool(np.isin(np.asarray(nsd_ids), held).all())


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


def holds_regions(path, regions, nsd_ids):
    """True when ``path`` is a cached extraction of (at least) ``regions`` and ``nsd_ids``."""
    if not Path(path).is_file():
        return False
    try:
        held_regions, held_ids = contents(path)
    except (OSError, ValueError, KeyError):  # unreadable, or of another format: replaced
        return False
    return set(regions) <= set(held_regions) and covers(held_ids, nsd_ids)


def widened(path, regions, nsd_ids):
    """The regions and images a new extraction to ``path`` covers: those asked and those held.

    The file is replaced, so what it held stays: two families asking in turn for their own
    images do not replace each other's extraction back and forth. A file of the same key
    was made from the same inputs, so its regions and images can be read again.

    Returns
    -------
    regions : list of str
        ``regions``, then the regions only the file holds.
    nsd_ids : (n_images,) int64 array
        Sorted union of ``nsd_ids`` and the file's images.
    """
    regions, ids = list(regions), [np.asarray(nsd_ids, dtype=np.int64)]
    if Path(path).is_file():
        try:
            held_regions, held_ids = contents(path)
        except (OSError, ValueError, KeyError):  # unreadable: replaced by what is asked
            held_regions, held_ids = [], []
        regions += [region for region in held_regions if region not in regions]
        ids.append(np.asarray(held_ids, dtype=np.int64))
    return regions, np.unique(np.concatenate(ids))


def extract_subject_cached(
    space, design, subject, regions, nsd_ids, cache_dir, *, staging_dir=None, progress=None
):
    """Extract several regions of a subject, from the cache when it holds them all.

    A new extraction (of :func:`widened` regions and images) is written to ``cache_dir``,
    or to ``staging_dir`` when given (the runner moves it into the cache once every subject
    could be read). Returns only ``regions`` and ``nsd_ids``.
    """
    path, made = extract_unless_cached(
        space, design, subject, regions, nsd_ids, cache_dir, staging_dir, progress=progress
    )
    if made is None:
        return {region: load(path, region, nsd_ids) for region in regions}
    return {region: extraction.select_images(made[region], nsd_ids) for region in regions}


def extract_unless_cached(
    space, design, subject, regions, nsd_ids, cache_dir, staging_dir=None, *, progress=None
):
    """Extract a subject's regions and images, unless the cache holds them already.

    Returns
    -------
    path : Path
        The cached file when it holds them; else the new extraction, written to
        ``staging_dir`` when given (the runner moves it into the cache once every subject
        could be read), else to ``cache_dir``.
    made : dict of str to RegionExtraction or None
        The new extraction, of the :func:`widened` regions and images; None when cached.
    """
    path = cache_file(cache_dir, space, subject)
    if holds_regions(path, regions, nsd_ids):
        return path, None
    target = Path(staging_dir or cache_dir) / path.name
    regions, nsd_ids = widened(path, regions, nsd_ids)
    made = extract_and_save(space, design, subject, regions, nsd_ids, target, progress=progress)
    return target, made


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
        path = cache_file(cache_dir, space, subject)
        if path.is_file():
            found = load(path, region, nsd_ids)
            if found is not None:
                return found
    return extraction.extract_region(space, design, subject, region, nsd_ids)


def reference_ids(space, design):
    """The images the reports ask for: shared and shown three times to every subject."""
    subjects = preflight.assembly_subjects(space.layout)
    return extraction.reference_images(space, design, subjects)


def union_reference_ids(layouts):
    """The images the reports of several families of one space ask for, together (sorted).

    Parameters
    ----------
    layouts : sequence of NsdLayout
        One layout per family, all of the same space and tree (each knows its assemblies).
    """
    design = load_expdesign(layouts[0].expdesign())
    found = [reference_ids(open_space(layout), design) for layout in layouts]
    return np.unique(np.concatenate(found))


def prepare_subject(layout, subject, regions, cache_dir, *, staging_dir=None, nsd_ids=None):
    """Extract one subject's regions for the reports, unless the cache holds them already.

    ``layout`` is the tree; its raw files are read through its data space. ``nsd_ids`` are
    the images to extract (default: the layout's :func:`reference_ids`); a new extraction
    also keeps what the cached file held (:func:`widened`).

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
    ids = reference_ids(space, design) if nsd_ids is None else nsd_ids

    def beat(done, n_sessions, log):
        watched.heartbeat(
            None,
            subject=subject_label(subject),
            sessions_done=done,
            n_sessions=n_sessions,
            bytes_read=log.bytes_read,
        )

    path, made = extract_unless_cached(
        space, design, subject, regions, ids, cache_dir, staging_dir, progress=beat
    )
    return None if made is None else path
