"""Moving one block of units through an extraction: sessions read ahead, columns written.

:func:`read_ahead` overlaps the next session's read with the current one's arithmetic;
:func:`column_writes` and :func:`write_rows` put a block's values into the units' arrays
with slice writes, where a fancy-indexed write of every cell was a fifth of the time.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def read_ahead(calls, ahead=True):
    """Yield the result of each zero-argument call, the next call running meanwhile.

    The next session's read (I/O, page faults and the gather, which release the GIL) runs in
    a thread while the caller z-scores the current one. An exception raised by a call is
    raised here, at its turn. ``ahead=False`` makes the calls one after the other.

    Examples
    --------
    >>> list(read_ahead(lambda i=i: i * i for i in range(4)))
    [0, 1, 4, 9]
    """
    calls = iter(calls)
    if not ahead:
        yield from (call() for call in calls)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nsdval-read") as reader:
        pending = [reader.submit(call) for call in itertools.islice(calls, 1)]
        for call in calls:
            pending.append(reader.submit(call))
            yield pending.pop(0).result()
        for future in pending:
            yield future.result()


def column_writes(columns, most=16):
    """How to write a block's columns into the units' arrays: ``(source, target)`` pairs.

    A block lists units in file order, and so does each region: the block's units of one
    region are consecutive in the units' arrays, a slice to write into (a fancy-indexed
    write of every cell was a fifth of a surface extraction). ``source`` picks them from
    the block (a slice when they are also consecutive there). Columns that fall into more
    than ``most`` runs are written by index: ``target`` is then an int array.

    Parameters
    ----------
    columns : (n,) int array
        The block's units, as positions in the units' arrays (no repeats).
    most : int
        Runs above which the columns are written by index.

    Returns
    -------
    list of (slice or int array, slice or int array)

    Examples
    --------
    >>> column_writes(np.array([7, 2, 8, 3]))
    [(array([1, 3]), slice(2, 4, None)), (array([0, 2]), slice(7, 9, None))]
    >>> column_writes(np.array([4, 5]))
    [(slice(0, 2, None), slice(4, 6, None))]
    >>> column_writes(np.array([5, 1, 3]), most=2)[0][1].tolist()
    [5, 1, 3]
    """
    columns = np.asarray(columns)
    order = np.argsort(columns, kind="stable")
    ranked = columns[order]
    bounds = [0, *(np.flatnonzero(np.diff(ranked) != 1) + 1).tolist(), columns.size]
    if len(bounds) - 1 > most:
        return [(slice(0, columns.size), columns)]
    writes = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        source = order[lo:hi]
        if source[-1] - source[0] == hi - lo - 1 and (np.diff(source) == 1).all():
            source = slice(int(source[0]), int(source[0]) + hi - lo)
        writes.append((source, slice(int(ranked[lo]), int(ranked[lo]) + hi - lo)))
    return writes


def write_rows(out, rep, image, values, writes):
    """``out[rep, image, target] = values[:, source]`` for each of :func:`column_writes`.

    ``values`` is cast to ``out``'s dtype first: an indexed write that casts on the way
    is ten times slower.
    """
    values = np.asarray(values).astype(out.dtype, copy=False)
    for source, target in writes:
        if isinstance(target, slice):
            out[rep, image, target] = values[:, source]
        else:
            out[rep[:, None], image[:, None], target[None, :]] = values[:, source]
