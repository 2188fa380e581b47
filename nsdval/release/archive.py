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

import hashlib
import json
import posixpath
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

import nsdval
from nsdval.analysis import cache
from nsdval.analysis.record import results_from_json
from nsdval.errors import InputError, MissingInputError, OutputError, ParameterError
from nsdval.release import manifest, tarball

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
        How input files are fingerprinted (:func:`nsdval.release.manifest.describe_inputs`);
        files with the size and mtime the run recorded keep the run's SHA-256.
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
    run_dir, target = Path(run_dir), archive_target(run_dir, release, out_dir, overwrite=overwrite)
    manifest.check_hash_mode(hash_mode)
    results, run_manifest = read_finished_run(run_dir)
    files = _describe_files(run_dir, run_files(run_dir, results), workers)
    inputs = archive_inputs(
        run_manifest,
        root=Path(nsd_root or results.get("nsd_root") or ""),
        hash_mode=hash_mode,
        workers=workers,
        reads=cache.read_digests(run_dir / ".cache"),
        on_progress=on_progress,
    )
    content = archive_manifest(
        run_manifest, results, release=release, inputs=inputs, hash_mode=hash_mode, files=files
    )
    tarball.write_tar(
        target,
        top=f"nsdval-{release}",
        run_dir=run_dir,
        files=files,
        generated=generated_files(content, files),
        mtime=tarball.epoch(results.get("created")),
    )
    return target


def archive_target(run_dir, release, out_dir, *, overwrite):
    """Where the archive goes; an :class:`OutputError` if it exists and may not be replaced."""
    target = Path(out_dir or Path(run_dir).resolve().parent) / archive_name(release)
    if target.exists() and not overwrite:
        raise OutputError(target, "archive exists; not replaced without overwrite (--overwrite)")
    return target


def read_finished_run(run_dir):
    """A run's results and manifest; an :class:`InputError` unless it finished."""
    results = results_from_json(read_json(run_dir / RESULTS, "run results.json"), source=run_dir)
    run_manifest = read_json(run_dir / MANIFEST, "run manifest.json")
    if not run_manifest.get("inputs") or not results.get("reports"):
        raise InputError(run_dir, "not a finished run: no inputs in manifest.json or no reports")
    return results, run_manifest


def generated_files(content, files):
    """The archive's own files: the sealed manifest and ``SHA256SUMS`` of everything."""
    generated = {MANIFEST: seal_manifest(_json_bytes(content))}
    digests = {name: info["sha256"] for name, info in files.items()}
    digests[MANIFEST] = hashlib.sha256(generated[MANIFEST]).hexdigest()
    generated[SUMS] = format_sums(digests).encode()
    return generated


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
