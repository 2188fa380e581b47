"""Provenance of a run: versions, command, parameters and checksums of every input file."""

from __future__ import annotations

import hashlib
import platform
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import nsdval

PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "xarray",
    "h5py",
    "h5netcdf",
    "nibabel",
    "scikit-learn",
    "matplotlib",
    "jinja2",
    "nbformat",
    "nbconvert",
    "nbclient",
    "papermill",
    "ipykernel",
)
CHUNK = 8 * 1024 * 1024


def package_versions(names=PACKAGES):
    """Installed version of each package, ``None`` where absent."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def sha256_file(path, chunk=CHUNK):
    """SHA-256 hex digest of a file, read in chunks.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"abc")
    >>> sha256_file(f.name)[:16]
    'ba7816bf8f01cfea'
    >>> os.unlink(f.name)
    """
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def describe_inputs(paths, *, root, workers=4):
    """Size and SHA-256 of each input file, paths relative to ``root`` where possible."""
    paths = sorted(Path(p) for p in paths)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        digests = list(pool.map(sha256_file, paths))
    return [
        {"path": _relative(p, root), "size": p.stat().st_size, "sha256": d}
        for p, d in zip(paths, digests, strict=True)
    ]


def _relative(path, root):
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def build_manifest(*, command, parameters, inputs, timings, created):
    """The run manifest as a JSON-ready dict."""
    return {
        "schema_version": 1,
        "created": created,
        "nsdval_version": nsdval.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "command": command,
        "parameters": parameters,
        "packages": package_versions(),
        "inputs": inputs,
        "timings": timings,
    }
