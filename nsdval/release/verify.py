"""Reading release archives and run folders back: verifying checksums, loading results.

:func:`verify` recomputes the SHA-256 of every file of an archive (``.tar.gz``, read in one
streaming pass and never extracted) or of an extracted archive folder, and names each file
that is altered, missing or extra; with an NSD root it also checks the input data files
against the manifest. :func:`load_run` reads the results and manifest of a run folder or an
archive for :mod:`nsdval.release.compare`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from nsdval.analysis.record import results_from_json
from nsdval.errors import InputError, MissingInputError
from nsdval.release import manifest
from nsdval.release.archive import (
    MANIFEST,
    RESULTS,
    SUMS,
    manifest_seal_holds,
    parse_json,
    parse_sums,
    read_json,
)

_KEEP = (SUMS, MANIFEST, RESULTS)
_CHUNK = 1024 * 1024


@dataclass
class Scan:
    """What one pass over an archive or folder found.

    Attributes
    ----------
    digests : dict
        Relative path -> SHA-256 of each regular file.
    texts : dict
        Content of ``SHA256SUMS``, ``manifest.json`` and ``results.json`` where present.
    strays : dict
        Relative path -> why it cannot be verified (not a regular file, outside the top
        folder, a duplicate entry).
    corrupt : str or None
        Why the archive stopped being readable part-way, if it did.
    top : str or None
        Name of the archive's top folder (or of the folder scanned).
    names : set
        Regular files read so far.
    source : str
        File name of the archive, or the folder's name.
    """

    digests: dict = field(default_factory=dict)
    texts: dict = field(default_factory=dict)
    strays: dict = field(default_factory=dict)
    corrupt: str | None = None
    top: str | None = None
    names: set = field(default_factory=set)
    source: str = ""


def scan(path, *, hashing=True, workers=4):
    """Read an archive (``.tar.gz``) or a folder: digests and the few files nsdval reads.

    Raises
    ------
    MissingInputError
        If ``path`` does not exist.
    InputError
        If ``path`` is a file but not a readable tar archive.
    """
    path = Path(path)
    if path.is_dir():
        return _scan_folder(path, hashing=hashing, workers=workers)
    if not path.is_file():
        raise MissingInputError(path, "archive or run folder")
    return _scan_tar(path, hashing=hashing)


def _scan_folder(folder, *, hashing, workers):
    found = Scan(top=folder.name, source=folder.name)
    files = []
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_symlink() or not (path.is_dir() or path.is_file()):
            found.strays[name] = "not a regular file"
        elif path.is_file():
            files.append((name, path))
    for name, path in files:
        if name in _KEEP:
            found.texts[name] = path.read_bytes()
    if hashing:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            digests = pool.map(manifest.sha256_file, [p for _, p in files])
            found.digests = dict(zip([n for n, _ in files], digests, strict=True))
    return found


def _scan_tar(path, *, hashing):
    found, seen = Scan(source=Path(path).name), 0
    try:
        with _open_stream(path) as stream, tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                seen += 1
                _scan_member(tar, member, found, hashing)
            while stream.read(_CHUNK):  # to the end, where gzip checks its CRC and length
                pass
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        if not seen:
            raise InputError(path, f"not a readable tar archive ({exc})") from exc
        found.corrupt = f"{type(exc).__name__}: {exc}"
    return found


def _open_stream(path):
    """A binary stream of the archive, decompressed here when it is gzip."""
    with Path(path).open("rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else Path(path).open("rb")


def _scan_member(tar, member, found, hashing):
    top, _, name = member.name.rstrip("/").partition("/")
    found.top = found.top or top
    unsafe = PurePosixPath(member.name).is_absolute() or ".." in PurePosixPath(name).parts
    if top != found.top or unsafe or not (name or member.isdir()):
        found.strays[member.name] = "outside the archive's top folder"
    elif member.isdir():
        return
    elif not member.isfile():
        found.strays[name] = "not a regular file"
    elif name in found.names:
        found.strays[name] = "duplicate entry"
    else:
        found.names.add(name)
        _read_member(tar.extractfile(member), name, found, hashing)


def _read_member(handle, name, found, hashing):
    digest, kept = hashlib.sha256(), []
    while block := handle.read(_CHUNK):
        if hashing:
            digest.update(block)
        if name in _KEEP:
            kept.append(block)
    if hashing:
        found.digests[name] = digest.hexdigest()
    if name in _KEEP:
        found.texts[name] = b"".join(kept)


def verify(path, *, nsd_root=None, workers=4):
    """Recompute every checksum of an archive or extracted archive folder.

    Parameters
    ----------
    path : str or Path
        ``nsdval-TAG.tar.gz`` or the folder it was extracted to (the one holding
        ``SHA256SUMS``).
    nsd_root : str or Path, optional
        Also check the input data files listed in the manifest against this root.
    workers : int
        Files hashed at once.

    Returns
    -------
    dict
        ``top`` (the archive's folder), ``files`` (number of files checked), ``inputs``
        (number of input files checked, or None) and ``problems``: one ``{"where", "path",
        "problem", "detail"}`` per ``altered``, ``missing``, ``extra`` or ``corrupt`` item,
        ``where`` being ``"archive"`` or ``"nsd-root"``. No problems means intact.

    Raises
    ------
    InputError
        If ``path`` holds no ``SHA256SUMS`` or is not a readable archive.
    """
    found = scan(path, workers=workers)
    if SUMS not in found.texts and not found.corrupt:
        raise InputError(path, f"no {SUMS}: not an nsdval archive or extracted archive folder")
    problems = archive_problems(found)
    inputs = None
    if nsd_root is not None:
        records = _manifest(found).get("inputs") or []
        inputs = len(records)
        problems += [
            {"where": "nsd-root", **p}
            for p in manifest.check_inputs(records, root=nsd_root, workers=workers)
        ]
    return {"top": found.top, "files": len(found.digests), "inputs": inputs, "problems": problems}


def archive_problems(found):
    """Compare a :class:`Scan` with its ``SHA256SUMS`` and the manifest's ``files``.

    When ``manifest.json`` is intact, its ``files`` record (and its own digest) is the
    reference and a ``SHA256SUMS`` that disagrees with it is itself reported as altered;
    otherwise ``SHA256SUMS`` is the reference.
    """
    sums, malformed = parse_sums(found.texts.get(SUMS, b"").decode("utf-8", "replace"))
    reference, disagree = _reference(found, sums)
    problems = _sums_problem(malformed, disagree)
    unread = sorted(set(reference) - set(found.digests)) if found.corrupt else []
    for name in sorted((set(reference) | set(found.digests)) - {SUMS, *unread}):
        problems += _file_problem(name, reference.get(name), found.digests.get(name))
    problems += [_problem(name, "extra", why) for name, why in sorted(found.strays.items())]
    if found.corrupt:
        detail = found.corrupt + (f"; {len(unread)} listed files not reached" if unread else "")
        problems.append(_problem(found.source, "corrupt", detail))
    return problems


def _sums_problem(malformed, disagree):
    """At most one problem naming ``SHA256SUMS`` itself."""
    details = [f"malformed line {', '.join(map(str, malformed))}"] if malformed else []
    if disagree:
        names = ", ".join(disagree[:3]) + (" ..." if len(disagree) > 3 else "")
        details.append(f"its entries for {names} disagree with {MANIFEST}")
    return [_problem(SUMS, "altered", "; ".join(details))] if details else []


def _reference(found, sums):
    """Expected digests, and the SHA256SUMS entries that disagree with an intact manifest.

    The manifest is intact when its seal holds (or, unsealed, when it matches its line in
    ``SHA256SUMS``); its ``files`` record then decides which side of a mismatch changed.
    """
    data = found.texts.get(MANIFEST, b"")
    intact = manifest_seal_holds(data)
    if intact is None:
        intact = MANIFEST in sums and found.digests.get(MANIFEST) == sums[MANIFEST]
    files = _manifest(found).get("files") if intact else None
    if not isinstance(files, dict):
        return sums, []
    reference = {name: (info or {}).get("sha256") for name, info in files.items()}
    reference[MANIFEST] = found.digests.get(MANIFEST) or hashlib.sha256(data).hexdigest()
    disagree = sorted(n for n in set(sums) | set(reference) if sums.get(n) != reference.get(n))
    return reference, disagree


def _file_problem(name, expected, actual):
    if expected is None:
        return [_problem(name, "extra", f"not listed in {SUMS}")]
    if actual is None:
        return [_problem(name, "missing", f"listed in {SUMS} but absent")]
    if actual != expected:
        return [_problem(name, "altered", f"sha256 {actual[:12]}... differs from the record")]
    return []


def _problem(path, problem, detail):
    return {"where": "archive", "path": path, "problem": problem, "detail": detail}


def _manifest(found):
    try:
        content = json.loads(found.texts.get(MANIFEST, b"{}"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def load_run(path):
    """The results and manifest of a run folder, an extracted archive or an archive.

    Returns
    -------
    dict
        ``label`` (the path as given), ``results`` (``results.json``, its ``reports`` as
        :class:`~nsdval.analysis.record.ReportRecord`) and ``manifest`` (``manifest.json``,
        ``{}`` if absent).

    Raises
    ------
    InputError
        The results cannot be read back (see
        :func:`~nsdval.analysis.record.results_from_json`).
    """
    path = Path(path)
    if path.is_dir():
        results = read_json(path / RESULTS, "run results.json")
        has_manifest = (path / MANIFEST).is_file()
        run_manifest = read_json(path / MANIFEST, "manifest") if has_manifest else {}
    else:
        found = scan(path, hashing=False)
        if RESULTS not in found.texts:
            raise InputError(path, f"archive holds no {RESULTS}")
        results = parse_json(found.texts[RESULTS], f"{path}: {RESULTS}")
        run_manifest = parse_json(found.texts.get(MANIFEST, b"{}"), f"{path}: {MANIFEST}")
    results = results_from_json(results, source=path)
    return {"label": str(path), "results": results, "manifest": run_manifest}
