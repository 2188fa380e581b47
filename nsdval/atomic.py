"""Write files so that readers never see them half-written: temporary name, then rename."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
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
