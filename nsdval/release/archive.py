"""Release archives of a finished run, written deterministically.

An archive ``nsdval-TAG.tar.gz`` holds one folder ``nsdval-TAG/`` with the run's executed
notebooks, HTML reports and sidecars, ``index.html`` and ``results.json`` exactly as the run
wrote them, the archive manifest ``manifest.json`` (the run manifest extended with the
release tag, the archived files and freshly fingerprinted inputs, sealed with its own
digest), and ``SHA256SUMS`` in the ``sha256sum`` format covering every other file. The same
run folder always gives the same bytes: sorted entries, fixed times and owners, and no
archiving date. :mod:`nsdval.release.verify` reads archives back.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import posixpath
import re
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path, PurePosixPath

import nsdval
from nsdval import atomic
from nsdval.analysis import cache
from nsdval.analysis.record import results_from_json
from nsdval.errors import InputError, MissingInputError, OutputError, ParameterError
from nsdval.release import manifest

MANIFEST, RESULTS, SUMS, INDEX = "manifest.json", "results.json", "SHA256SUMS", "index.html"
SCHEMA_VERSION = 1
"""Version of the archive-specific part of the manifest (``files``, ``archive``)."""

_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_UNSEALED = "0" * 64
_SEAL = re.compile(rb'"manifest_sha256": "([0-9a-f]{64})"')
_REPORT_FIELDS = ("template", "subject", "region", "status", "parameters", "rerun")


def archive_name(release):
    """File name of the archive of ``release``, refusing tags unfit for a file name.

    Examples
    --------
    >>> archive_name("v1.2")
    'nsdval-v1.2.tar.gz'
    """
    if not isinstance(release, str) or not _TAG.fullmatch(release):
        raise ParameterError(
            "release", f"expected letters, digits and . _ + - (e.g. v1.2), got {release!r}"
        )
    return f"nsdval-{release}.tar.gz"


def create_archive(
    run_dir,
    *,
    release,
    out_dir=None,
    hash_mode="sha256",
    nsd_root=None,
    workers=4,
    overwrite=False,
    on_progress=None,
):
    """Write the deterministic release archive of a finished run.

    Parameters
    ----------
    run_dir : str or Path
        The run folder (``results.json``, ``manifest.json``, reports); it is only read.
    release : str
        Release tag, e.g. ``"v1.2"``; names the archive and its top folder.
    out_dir : str or Path, optional
        Folder of the archive; defaults to the folder holding ``run_dir``.
    hash_mode : {'sha256', 'read', 'size-mtime'}
        How the input data files are fingerprinted in the archive manifest (see
        :func:`nsdval.release.manifest.describe_inputs`; files whose size and mtime are those the
        run recorded keep the run's SHA-256).
    nsd_root : str or Path, optional
        Where the input files are now; defaults to the run's ``nsd_root``.
    workers : int
        Files hashed at once.
    overwrite : bool
        Replace an existing archive of the same name.

    Returns
    -------
    Path
        The archive written.
    """
    run_dir = Path(run_dir)
    target = Path(out_dir or run_dir.resolve().parent) / archive_name(release)
    if target.exists() and not overwrite:
        raise OutputError(target, "archive exists; not replaced without overwrite (--overwrite)")
    manifest.check_hash_mode(hash_mode)
    results = results_from_json(read_json(run_dir / RESULTS, "run results.json"), source=run_dir)
    run_manifest = read_json(run_dir / MANIFEST, "run manifest.json")
    if not run_manifest.get("inputs") or not results.get("reports"):
        raise InputError(run_dir, "not a finished run: no inputs in manifest.json or no reports")
    names = run_files(run_dir, results)
    files = _describe_files(run_dir, names, workers)
    root = Path(nsd_root or results.get("nsd_root") or "")
    inputs = archive_inputs(
        run_manifest,
        root=root,
        hash_mode=hash_mode,
        workers=workers,
        reads=cache.read_digests(run_dir / ".cache"),
        on_progress=on_progress,
    )
    content = archive_manifest(
        run_manifest, results, release=release, inputs=inputs, hash_mode=hash_mode, files=files
    )
    generated = {MANIFEST: seal_manifest(_json_bytes(content))}
    digests = {name: info["sha256"] for name, info in files.items()}
    digests[MANIFEST] = hashlib.sha256(generated[MANIFEST]).hexdigest()
    generated[SUMS] = format_sums(digests).encode()
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_tar(
        target,
        top=f"nsdval-{release}",
        run_dir=run_dir,
        files=files,
        generated=generated,
        mtime=_epoch(results.get("created")),
    )
    return target


def run_files(run_dir, results):
    """Run-relative paths of every file a run wrote, from its ``results.json``.

    The index and results, then each report's notebook, HTML page and sidecar; all must
    exist. Sorted, without duplicates; files not listed (stray outputs) are left out.
    """
    names = {INDEX, RESULTS}
    for record in results.get("reports") or []:
        for name in (record.notebook, record.html):
            names.add(_inside(name, run_dir))
        names.add(posixpath.join(posixpath.dirname(record.html), RESULTS))
    for name in names:
        if not (Path(run_dir) / name).is_file():
            raise MissingInputError(Path(run_dir) / name, "run output listed in results.json")
    return sorted(names)


def _inside(name, run_dir):
    """Return ``name`` if it is a relative POSIX path inside the run folder, else raise."""
    parts = PurePosixPath(str(name or "")).parts
    if not parts or name.startswith("/") or ".." in parts or "\\" in name:
        raise InputError(Path(run_dir) / RESULTS, f"report path {name!r} leaves the run folder")
    return str(name)


def _describe_files(run_dir, names, workers):
    """``{name: {"size", "sha256"}}`` of run files, hashed in parallel."""
    paths = [Path(run_dir) / name for name in names]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        digests = list(pool.map(manifest.sha256_file, paths))
    return {
        name: {"size": path.stat().st_size, "sha256": digest}
        for name, path, digest in zip(names, paths, digests, strict=True)
    }


def archive_inputs(run_manifest, *, root, hash_mode, workers=4, reads=None, on_progress=None):
    """Fingerprint the run's input files again, refusing files changed since the run.

    Parameters
    ----------
    run_manifest : dict
        The run manifest; its ``inputs`` list which files to describe.
    root : Path
        Where the input files are now.
    hash_mode : {'sha256', 'read', 'size-mtime'}
        See :func:`nsdval.release.manifest.describe_inputs`; an input whose size and mtime are
        those the run recorded keeps the run's SHA-256 (it is not read again).
    workers : int
        Files hashed at once.
    reads : dict or None
        What the run's extraction read (``read`` mode).
    on_progress : callable or None
        Hashing progress, see :func:`nsdval.release.manifest.describe_inputs`.

    Returns
    -------
    list of dict
        The new ``inputs`` records, sorted by path.
    """
    recorded = {r["path"]: r for r in run_manifest.get("inputs") or []}
    paths = [Path(root) / name for name in recorded]
    for path in paths:
        if not path.is_file():
            raise MissingInputError(path, "input file recorded in the run manifest")
    inputs = manifest.describe_inputs(
        paths,
        root=root,
        workers=workers,
        hash_mode=hash_mode,
        previous=run_manifest.get("inputs") or [],
        reads=reads,
        on_progress=on_progress,
    )
    for new in inputs:
        if not _same_input(new, recorded[new["path"]]):
            raise InputError(Path(root) / new["path"], "changed since the run that recorded it")
    return inputs


def _same_input(new, old):
    """Whether a fresh input record agrees with the run's (size, and sha256 when both have it)."""
    digests = (new.get("sha256"), old.get("sha256"))
    return new["size"] == old.get("size") and (None in digests or digests[0] == digests[1])


def archive_manifest(run_manifest, results, *, release, inputs, hash_mode, files):
    """The archive's ``manifest.json``: the run manifest, extended.

    Added: ``release``; ``nsd_root``; ``reports`` (each report's template, scope, status,
    effective parameters and re-run overrides); ``files`` (size and sha256 of every other
    archived file); ``archive`` (how and by which nsdval it was archived). ``inputs`` is
    replaced by the fresh fingerprints. Nothing depends on the time of archiving.
    ``archive.manifest_sha256`` is filled in by :func:`seal_manifest`.
    """
    commit, dirty = manifest.package_git_state()
    return {
        "release": release,
        **run_manifest,
        "git_commit": run_manifest.get("git_commit"),
        "git_dirty": run_manifest.get("git_dirty"),
        "nsd_root": results.get("nsd_root"),
        "inputs": inputs,
        "reports": {
            r.id: {name: getattr(r, name) for name in _REPORT_FIELDS} for r in results["reports"]
        },
        "files": files,
        "archive": {
            "schema_version": SCHEMA_VERSION,
            "input_hash": hash_mode,
            "nsdval_version": nsdval.__version__,
            "git_commit": commit,
            "git_dirty": dirty,
            "python": sys.version.split()[0],
            "manifest_sha256": _UNSEALED,
        },
    }


def _epoch(created):
    """Seconds since 1970 of an ISO timestamp; 0 when absent or unreadable.

    Examples
    --------
    >>> _epoch("2026-11-24T08:25:44+00:00"), _epoch(None)
    (1795508744, 0)
    """
    try:
        return max(0, int(datetime.fromisoformat(created).timestamp()))
    except (TypeError, ValueError):
        return 0


def _write_tar(target, *, top, run_dir, files, generated, mtime):
    """Write the tar.gz atomically: sorted entries, fixed times, root owner, no names."""
    names = sorted({*files, *generated})
    folders = sorted({str(p) for n in names for p in PurePosixPath(n).parents if str(p) != "."})
    with (
        atomic.writing(target) as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed,
        tarfile.open(fileobj=packed, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        tar.addfile(_info(top, tarfile.DIRTYPE, 0, mtime))
        for name in sorted([*folders, *names]):
            member = f"{top}/{name}"
            if name in folders:
                tar.addfile(_info(member, tarfile.DIRTYPE, 0, mtime))
            elif name in generated:
                data = generated[name]
                tar.addfile(_info(member, tarfile.REGTYPE, len(data), mtime), io.BytesIO(data))
            else:
                _add_file(tar, member, Path(run_dir) / name, files[name], mtime)


def _info(name, kind, size, mtime):
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mtime = kind, size, mtime
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add_file(tar, member, path, described, mtime):
    """Add a run file, refusing it if it changed since it was hashed."""
    with path.open("rb") as handle:
        reader = _HashingReader(handle)
        tar.addfile(_info(member, tarfile.REGTYPE, described["size"], mtime), reader)
        unchanged = not handle.read(1) and reader.digest.hexdigest() == described["sha256"]
    if not unchanged:
        raise InputError(path, "changed while it was being archived; archive again")


class _HashingReader:
    """A binary reader that hashes what passes through it."""

    def __init__(self, handle):
        self.handle = handle
        self.digest = hashlib.sha256()

    def read(self, size=-1):
        block = self.handle.read(size)
        self.digest.update(block)
        return block


def seal_manifest(data):
    """Write the manifest's own digest into it: sha256 of the bytes with the digest zeroed.

    The seal tells which of ``manifest.json`` and its line in ``SHA256SUMS`` was altered
    when the two disagree.
    """
    if len(_SEAL.findall(data)) != 1 or _SEAL.search(data).group(1) != _UNSEALED.encode():
        raise ValueError("manifest must hold exactly one unsealed manifest_sha256")
    return _with_seal(data, hashlib.sha256(data).hexdigest())


def _with_seal(data, digest):
    return _SEAL.sub(b'"manifest_sha256": "' + digest.encode() + b'"', data)


def manifest_seal_holds(data):
    """Whether sealed manifest bytes are intact; ``None`` when they carry no seal.

    Examples
    --------
    >>> sealed = seal_manifest(b'{"manifest_sha256": "' + b"0" * 64 + b'"}')
    >>> altered = sealed.replace(b"{", b"[")
    >>> manifest_seal_holds(sealed), manifest_seal_holds(altered), manifest_seal_holds(b"{}")
    (True, False, None)
    """
    found = _SEAL.findall(data)
    if not found:
        return None
    zeroed = _with_seal(data, _UNSEALED)
    return len(found) == 1 and hashlib.sha256(zeroed).hexdigest().encode() == found[0]


def read_json(path, what):
    """Parse a JSON file, naming it in the error when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, what)
    return parse_json(path.read_bytes(), path)


def parse_json(data, source):
    """Parse JSON bytes, raising :class:`InputError` naming ``source`` when malformed."""
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(source, f"not valid JSON ({exc})") from exc


def _json_bytes(payload):
    return (json.dumps(payload, indent=2) + "\n").encode()


def format_sums(digests):
    """``SHA256SUMS`` text: ``<hex>  <path>`` per file, sorted by path.

    Examples
    --------
    >>> print(format_sums({"b.html": "22", "a.json": "11"}), end="")
    11  a.json
    22  b.html
    """
    return "".join(f"{digests[name]}  {name}\n" for name in sorted(digests))


def parse_sums(text):
    r"""Read ``SHA256SUMS`` text into ``{path: hex}`` and the numbers of malformed lines.

    Examples
    --------
    >>> parse_sums("11  a.json\nrubbish\n")
    ({'a.json': '11'}, [2])
    """
    sums, malformed = {}, []
    for number, line in enumerate(text.removesuffix("\n").split("\n"), 1):
        digest, sep, name = line.partition("  ")
        if not sep or not name or not re.fullmatch(r"[0-9a-f]+", digest) or name in sums:
            malformed.append(number)
        else:
            sums[name] = digest
    return sums, malformed
