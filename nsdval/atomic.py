"""Write files so that readers never see them half-written: temporary name, then rename."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from pathlib import Path


def write_bytes(path, data):
    """Write ``data`` to ``path`` through a temporary file in the same folder.

    Parameters
    ----------
    path : str or Path
        Destination; its folder must exist.
    data : bytes
        Content.
    """
    with writing(path) as handle:
        handle.write(data)


@contextlib.contextmanager
def writing(path):
    """Open a temporary file beside ``path`` for binary writing; rename it on success.

    For content too large to hold in memory. If the block raises, the temporary file
    is removed and ``path`` is left as it was.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "out.bin"
    >>> with writing(target) as handle:
    ...     _ = handle.write(b"abc")
    >>> target.read_bytes()
    b'abc'
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            yield handle
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def staging(paths):
    """Temporary paths beside ``paths``, renamed into place together when the block succeeds.

    For files that belong together (e.g. activations and the score computed from them):
    no path is replaced until the block has written every temporary file; if the block
    raises, every temporary file is removed and every path is left as it was. The writer
    may create each temporary file by name (e.g. netCDF writers) or with :func:`write_bytes`.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with staging([folder / "a.txt", folder / "b.txt"]) as (a, b):
    ...     write_text(a, "A")
    ...     write_text(b, "B")
    >>> sorted(p.name for p in folder.iterdir())
    ['a.txt', 'b.txt']
    """
    paths = [Path(path) for path in paths]
    temps = [path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp") for path in paths]
    try:
        yield temps
        missing = [tmp for tmp in temps if not tmp.exists()]
        if missing:
            raise FileNotFoundError(f"staged file not written: {missing[0]}")
        for tmp, path in zip(temps, paths, strict=True):
            tmp.replace(path)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)


def _umask():
    current = os.umask(0)
    os.umask(current)
    return current


def write_text(path, text):
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path, payload):
    """Write ``payload`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(payload, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
