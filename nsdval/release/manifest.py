"""Provenance of a run: versions, command, parameters and checksums of every input file."""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import nsdval
from nsdval.data.fingerprint import HEADER_BYTES
from nsdval.errors import ParameterError

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
HASH_MODES = ("read", "sha256", "size-mtime")
"""How input files are described: by what nsdval read, by full SHA-256, or by size and mtime."""
DEFAULT_HASH = "read"


def is_betas_file(path):
    """Whether ``path`` is a betas session file, never hashed whole in ``read`` mode.

    The betas are the bulk of a drive: the volume's ``betas_sessionNN.hdf5`` and the
    surface's ``{lh,rh}.betas_sessionNN.mgh`` (491 MB each).

    Examples
    --------
    >>> [is_betas_file(Path(n)) for n in ("betas_session01.hdf5", "lh.betas_session01.mgh")]
    [True, True]
    >>> [is_betas_file(Path(n)) for n in ("lh.ncsnr.mgh", "nsd_expdesign.mat")]
    [False, False]
    """
    return path.suffix == ".hdf5" or (path.suffix == ".mgh" and "betas_session" in path.name)


def package_versions(names=PACKAGES):
    """Installed version of each package, ``None`` where absent."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def sha256_file(path, chunk=CHUNK, on_bytes=None, limit=None):
    """SHA-256 hex digest of a file (or of its first ``limit`` bytes), read in chunks.

    ``on_bytes(n)`` is called after each chunk of ``n`` bytes.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"abc")
    >>> sha256_file(f.name)[:16]
    'ba7816bf8f01cfea'
    >>> sha256_file(f.name, limit=2) == sha256_file(f.name, limit=None)
    False
    >>> os.unlink(f.name)
    """
    digest = hashlib.sha256()
    left = float("inf") if limit is None else limit
    with Path(path).open("rb") as handle:
        while left > 0 and (block := handle.read(int(min(chunk, left)))):
            digest.update(block)
            left -= len(block)
            if on_bytes is not None:
                on_bytes(len(block))
    return digest.hexdigest()


class HashProgress:
    """Bytes hashed so far out of a total, reported to ``callback(info)`` from any thread."""

    def __init__(self, total_bytes, n_files, callback):
        self.info = {"hashed_bytes": 0, "total_bytes": total_bytes, "n_files": n_files}
        self.callback = callback
        self.lock = threading.Lock()

    def add(self, n):
        """Count ``n`` more bytes hashed."""
        with self.lock:
            self.info["hashed_bytes"] += n
            if self.callback is not None:
                self.callback(dict(self.info))


def describe_inputs(
    paths,
    *,
    root,
    workers=4,
    hash_mode=DEFAULT_HASH,
    previous=(),
    reads=None,
    on_progress=None,
):
    """Describe each input file, paths relative to ``root`` where possible.

    Parameters
    ----------
    paths : iterable of str or Path
        The input files.
    root : str or Path
        Folder the recorded paths are relative to.
    workers : int
        Files hashed at once (threads; hashing streams each file in chunks).
    hash_mode : {'read', 'sha256', 'size-mtime'}
        Every entry records size and ``mtime_ns``. ``read`` (a run's default) adds a
        checksum of what nsdval reads: the SHA-256 of files the reports read whole (design,
        split, assemblies, activations, scores, NIfTI volumes), and for the betas the
        digest of the bytes the extraction read (``read_sha256``, from ``reads``), else of
        the first 64 KB, the HDF5 or MGH header (``head_sha256``); no betas file
        (:func:`is_betas_file`) is read whole.
        ``sha256`` adds the SHA-256 of every file; ``size-mtime`` reads no file.
    previous : sequence of dict
        Entries of an earlier manifest: a file whose path, size and ``mtime_ns`` are
        unchanged keeps its recorded SHA-256 instead of being read again.
    reads : dict or None
        Absolute path -> ``{"sha256", "size", "mtime_ns"}`` of the bytes the extraction
        read (see :func:`nsdval.analysis.cache.read_digests`); used where size and mtime
        still match.
    on_progress : callable or None
        Called with ``{"hashed_bytes", "total_bytes", "n_files"}`` as whole files are
        hashed.

    Returns
    -------
    list of dict
        ``{"path", "size", "hash", "mtime_ns"[, "sha256" | "read_sha256" | "head_sha256"]}``
        sorted by path.
    """
    check_hash_mode(hash_mode)
    paths = sorted(Path(p) for p in paths)
    known = {entry.get("path"): entry for entry in previous if entry.get("sha256")}
    plans = [_plan(p, root, hash_mode, known, reads or {}) for p in paths]
    todo = [(path, entry) for path, entry in zip(paths, plans, strict=True) if entry.pop("_hash")]
    progress = HashProgress(sum(e["size"] for _, e in todo), len(todo), on_progress)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        digests = pool.map(lambda item: sha256_file(item[0], on_bytes=progress.add), todo)
        for (_, entry), digest in zip(todo, digests, strict=True):
            entry["sha256"] = digest
    return plans


def check_hash_mode(hash_mode):
    """Return ``hash_mode`` if it is one of :data:`HASH_MODES`, else raise ``ParameterError``."""
    if hash_mode not in HASH_MODES:
        raise ParameterError("hash", f"expected one of {', '.join(HASH_MODES)}, got {hash_mode!r}")
    return hash_mode


def _plan(path, root, hash_mode, known, reads):
    """An input's entry without its whole-file digest; ``_hash`` says whether one is due."""
    stat = path.stat()
    entry = {"path": _relative(path, root), "size": stat.st_size, "hash": hash_mode}
    entry["mtime_ns"] = stat.st_mtime_ns
    current = (stat.st_size, stat.st_mtime_ns)
    old = known.get(entry["path"], {})
    whole = hash_mode == "sha256" or (hash_mode == "read" and not is_betas_file(path))
    if whole and (old.get("size"), old.get("mtime_ns")) == current:
        entry["sha256"] = old["sha256"]
        whole = False
    elif hash_mode == "read" and not whole:
        read = reads.get(str(path.resolve()), {})
        if (read.get("size"), read.get("mtime_ns")) == current:
            entry["read_sha256"] = read["sha256"]
        else:
            entry["head_sha256"] = sha256_file(path, limit=HEADER_BYTES)
    entry["_hash"] = whole
    return entry


def check_inputs(records, *, root, workers=4):
    """Compare input files on disk with their manifest records.

    Parameters
    ----------
    records : list of dict
        Manifest ``inputs`` entries; each is checked the way it was recorded (SHA-256
        when it has ``sha256``, else size and ``mtime_ns``).
    root : str or Path
        Folder the recorded paths are relative to.
    workers : int
        Files hashed at once.

    Returns
    -------
    list of dict
        ``{"path", "problem", "detail"}`` for each file that is ``missing`` or
        ``altered``, in record order; empty when every file matches.
    """
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        found = pool.map(lambda r: _input_problem(r, Path(root)), records)
        return [problem for problem in found if problem]


def _input_problem(record, root):
    path = root / record["path"]
    if not path.is_file():
        return {"path": record["path"], "problem": "missing", "detail": f"no file at {path}"}
    stat = path.stat()
    if stat.st_size != record.get("size"):
        detail = f"size {stat.st_size} bytes, recorded {record.get('size')}"
    elif "sha256" in record and sha256_file(path) != record["sha256"]:
        detail = "sha256 differs from the record"
    elif "sha256" not in record and stat.st_mtime_ns != record.get("mtime_ns"):
        detail = "modification time differs from the record"
    else:
        return None
    return {"path": record["path"], "problem": "altered", "detail": detail}


def git_state(folder):
    """Commit and dirtiness of the git checkout holding ``folder``, if it is tracked there.

    Returns
    -------
    commit : str or None
        ``HEAD`` of the checkout; ``None`` when ``folder`` is not tracked by git (an
        installed package) or git is unavailable.
    dirty : bool or None
        Whether tracked files differ from ``HEAD``; ``None`` without a commit.
    """
    folder = str(folder)
    tracked = _git(folder, "ls-files", "--error-unmatch", "--", "__init__.py")
    commit = _git(folder, "rev-parse", "HEAD") if tracked is not None else None
    if not commit:
        return None, None
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    return commit, None if status is None else bool(status)


def _git(folder, *args):
    """Stripped stdout of a git command in ``folder``, ``None`` if it fails."""
    try:
        done = subprocess.run(
            ["git", "-C", folder, *args], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def package_git_state():
    """:func:`git_state` of the folder of the running nsdval package."""
    return git_state(Path(nsdval.__file__).resolve().parent)


def _relative(path, root):
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def build_manifest(*, command, parameters, inputs, timings, created):
    """The run manifest as a JSON-ready dict.

    ``git_commit`` and ``git_dirty`` describe the checkout nsdval runs from, ``None``
    when it is an installed package.
    """
    commit, dirty = package_git_state()
    return {
        "schema_version": 1,
        "created": created,
        "nsdval_version": nsdval.__version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "command": command,
        "parameters": parameters,
        "packages": package_versions(),
        "inputs": inputs,
        "timings": timings,
    }
