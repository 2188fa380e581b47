"""Where a run's jobs execute: what every executor offers, and which executors there are.

Both executors, this machine's process pool (:class:`nsdval.run.pool.LocalExecutor`) and a
dask.distributed cluster (:class:`nsdval.run.cluster.DaskExecutor`), offer one operation,
``map_as_completed``, which calls ``fn(item, **kwargs)`` for every item and yields an
:class:`Outcome` per item in completion order. A job that raises, or whose worker keeps
dying, yields an outcome with ``error`` set instead of stopping the batch; the runner turns
it into an ``error`` record. Both also offer ``warm_up()``, which starts ahead what their
workers will need, and are used as context managers for their lifetime.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from nsdval.errors import ParameterError

EXECUTORS = ("local", "dask")
RETRIES = 2


class Outcome(NamedTuple):
    """One finished item: its result, or the exception that stopped it.

    Attributes
    ----------
    item : object
        The item as given to :meth:`map_as_completed`.
    result : object
        What ``fn`` returned; ``None`` when ``error`` is set.
    error : BaseException or None
        The exception ``fn`` raised, or why the item could not be run (its worker died).
    """

    item: Any
    result: Any = None
    error: BaseException | None = None


def check_choice(executor, scheduler):
    """Raise :class:`ParameterError` unless the executor and scheduler go together.

    Examples
    --------
    >>> check_choice("local", None)
    >>> check_choice("dask", "tcp://10.0.0.1:8786")
    """
    if executor not in EXECUTORS:
        raise ParameterError("--executor", f"expected one of {', '.join(EXECUTORS)}")
    if executor == "dask" and not scheduler:
        raise ParameterError("--scheduler", "required with --executor dask (an address, or local)")
    if executor != "dask" and scheduler:
        raise ParameterError("--scheduler", "only applies with --executor dask")
