"""The deterministic tar.gz of a release: the same run gives the same bytes.

Entries sorted, one fixed modification time, root owner without names, gzip without a
timestamp; every run file is hashed again while it is added and refused if it changed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from datetime import datetime
from pathlib import Path, PurePosixPath

from nsdval import atomic
from nsdval.errors import InputError


def epoch(created):
    """Seconds since 1970 of an ISO timestamp; 0 when absent or unreadable.

    Examples
    --------
    >>> epoch("2026-11-24T08:25:44+00:00"), epoch(None)
    (1795508744, 0)
    """
    try:
        return max(0, int(datetime.fromisoformat(created).timestamp()))
    except (TypeError, ValueError):
        return 0


def write_tar(target, *, top, run_dir, files, generated, mtime):
    """Write the tar.gz atomically: sorted entries, fixed times, root owner, no names.

    Parameters
    ----------
    target : Path
        The archive to write.
    top : str
        The folder every entry sits in.
    run_dir : Path
        Where the run files are.
    files : dict
        Run file name -> ``{"size", "sha256"}`` described before; a file that changed since
        is refused.
    generated : dict
        Name -> bytes of the files the archive adds (manifest, sums).
    mtime : int
        The one modification time of every entry.
    """
    Path(target).parent.mkdir(parents=True, exist_ok=True)
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
