"""A cheap fingerprint of an input file: size, modification time and a header checksum.

What the extraction cache and the incremental runs key on; it reads the first 64 KB of a
file (the HDF5 or NIfTI header), never a whole betas file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

HEADER_BYTES = 64 * 1024


def file_fingerprint(path):
    """Size, mtime and SHA-256 of the first bytes of a file, as one string."""
    path = Path(path)
    stat = path.stat()
    with path.open("rb") as handle:
        head = hashlib.sha256(handle.read(HEADER_BYTES)).hexdigest()
    return f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}:{head}"
