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
from nsdval import assemblies, atomic, extraction
from nsdval.expdesign import load_expdesign
from nsdval.incremental import file_fingerprint
from nsdval.layout import subject_label

FORMAT = 2
FIELDS = ("coords", "trials", "betas", "session_z", "ncsnr")


def subject_inputs(layout, subject):
    """Every file a subject's extraction reads."""
    files = [layout.expdesign()]
    files += [layout.betas(subject, s) for s in layout.sessions(subject)]
    roi_dir = layout.roi_dir(subject)
    files += sorted(p for p in roi_dir.iterdir() if p.name.endswith(".nii.gz"))
    return files


def cache_key(layout, subject, nsd_ids):
    """Hex key of a subject's extraction inputs."""
    digest = hashlib.sha256()
    parts = [
        nsdval.__version__,
        str(FORMAT),
        *map(file_fingerprint, subject_inputs(layout, subject)),
    ]
    parts.append(",".join(str(int(i)) for i in np.sort(np.asarray(nsd_ids))))
    digest.update("\n".join(parts).encode())
    return digest.hexdigest()[:32]


def cache_file(cache_dir, layout, subject, nsd_ids):
    """Where a subject's extraction is cached."""
    return Path(cache_dir) / f"{subject_label(subject)}-{cache_key(layout, subject, nsd_ids)}.npz"


def save(path, extractions):
    """Write a dict of region -> RegionExtraction to ``path`` atomically."""
    arrays = {}
    for region, ext in extractions.items():
        arrays.update({f"{region}/{name}": getattr(ext, name) for name in FIELDS})
    first = next(iter(extractions.values()))
    arrays["nsd_ids"] = first.nsd_ids
    arrays["meta"] = np.array(
        json.dumps({"regions": list(extractions), "n_sessions": first.n_sessions})
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic.writing(path) as handle:  # streamed: no in-memory copy of the arrays
        np.savez(handle, **arrays)


def load(path, region):
    """One region of a cached extraction, or ``None`` if the file lacks that region."""
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        if region not in meta["regions"]:
            return None
        fields = {name: data[f"{region}/{name}"] for name in FIELDS}
        return extraction.RegionExtraction(
            nsd_ids=data["nsd_ids"], n_sessions=meta["n_sessions"], **fields
        )


def extract_subject_cached(layout, design, subject, regions, nsd_ids, cache_dir):
    """Extract several regions of a subject, from the cache when it holds them all."""
    path = cache_file(cache_dir, layout, subject, nsd_ids)
    if path.is_file():
        found = {region: load(path, region) for region in regions}
        if all(ext is not None for ext in found.values()):
            return found
    result = extraction.extract_subject(layout, design, subject, regions, nsd_ids)
    save(path, result)
    return result


def region_extraction(layout, design, subject, region, nsd_ids, cache_dir=None):
    """One subject's region: from the cache when present, else extracted now (not cached)."""
    if cache_dir:
        path = cache_file(cache_dir, layout, subject, nsd_ids)
        if path.is_file():
            found = load(path, region)
            if found is not None:
                return found
    return extraction.extract_region(layout, design, subject, region, nsd_ids)


def prepare_subject(layout, subject, regions, cache_dir):
    """Fill the cache for one subject with the images the reports will ask for."""
    design = load_expdesign(layout.expdesign())
    train = assemblies.load_brainscore_assembly(layout, "train")
    ids = extraction.reference_images(layout, design, assemblies.assembly_subjects(train))
    return cache_file(cache_dir, layout, subject, ids), extract_subject_cached(
        layout, design, subject, regions, ids, cache_dir
    )
