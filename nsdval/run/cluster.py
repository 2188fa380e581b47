"""The executor on a dask.distributed cluster.

:class:`DaskExecutor` submits the jobs to a running dask.distributed scheduler (or to a
:class:`distributed.LocalCluster` it starts, for ``local`` / ``local:N``). Workers write
to the output folder directly, so the output folder and the NSD root must be on a
filesystem every worker sees, at the same paths. The scheduler reschedules the tasks of a
worker that died, up to its ``distributed.scheduler.allowed-failures`` setting (default
3); a job that killed more workers than that fails with ``KilledWorker``.
"""

from __future__ import annotations

from uuid import uuid4

from nsdval.errors import DependencyError, NsdvalError, ParameterError, one_line
from nsdval.run import zygote_client
from nsdval.run.executors import RETRIES, Outcome

CONNECT_TIMEOUT = 5.0
LOCAL_SCHEDULER = "local"


class SchedulerError(NsdvalError, ConnectionError):
    """A dask scheduler cannot be reached or started.

    Parameters
    ----------
    address : str
        The ``--scheduler`` address.
    problem : str
        Why the connection failed.
    """

    def __init__(self, address, problem):
        self.address = address
        self.problem = problem
        super().__init__(address, problem)

    def __str__(self):
        return f"dask scheduler {self.address}: {self.problem}"


def import_distributed():
    """The ``distributed`` module, or :class:`DependencyError` naming the extra to install."""
    try:
        import distributed
    except ImportError as exc:
        raise DependencyError(
            "distributed", f"{exc}; install it with pip install 'nsdval[dask]'"
        ) from None
    return distributed


def check_scheduler(address, *, timeout=CONNECT_TIMEOUT):
    """Raise unless ``distributed`` imports and the scheduler at ``address`` answers.

    ``local`` / ``local:N`` is only parsed: its cluster starts with the run.
    """
    distributed = import_distributed()
    if parse_local(address, 1) is not None:
        return
    try:
        with distributed.Client(address, timeout=timeout):
            pass
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise SchedulerError(address, one_line(exc)) from None


def parse_local(address, default_workers):
    """Workers of a ``local`` / ``local:N`` scheduler; ``None`` for a real address.

    Examples
    --------
    >>> parse_local("local:3", 2), parse_local("local", 2), parse_local("tcp://h:8786", 2)
    (3, 2, None)
    """
    name, sep, count = address.partition(":")
    if name != LOCAL_SCHEDULER:
        return None
    if not sep:
        return max(1, default_workers)
    if not count.isdigit() or int(count) < 1:
        raise ParameterError("--scheduler", f"expected local or local:N, got {address!r}")
    return int(count)


class DaskExecutor:
    """Jobs as tasks of a dask.distributed cluster.

    Parameters
    ----------
    address : str
        Scheduler address, e.g. ``tcp://10.0.0.1:8786``; ``local`` or ``local:N`` starts
        a :class:`distributed.LocalCluster` of ``N`` single-threaded worker processes
        (``local_workers`` for plain ``local``) for the duration of the run.
    retries : int
        Re-runs of a task that raised, and (for a local cluster) the scheduler's
        ``allowed-failures``: how many workers a task may see die before it is failed.
    connect_timeout : float
        Seconds to wait for the scheduler.
    local_workers : int
        Workers of a plain ``local`` cluster.
    warm_kernels : bool
        Fork the kernels of the notebooks the tasks execute from a zygote (one per worker
        process, started on first use); off, kernels start plain.
    """

    def __init__(
        self,
        address,
        *,
        retries=RETRIES,
        connect_timeout=CONNECT_TIMEOUT,
        local_workers=1,
        warm_kernels=False,
    ):
        self.address = address
        self.retries = retries
        self.connect_timeout = connect_timeout
        self.local_workers = local_workers
        self.warm_kernels = warm_kernels
        self.client = None
        self.cluster = None

    def __enter__(self):
        self.open()
        return self

    def warm_up(self):
        """Nothing to start ahead: each worker starts its kernels' zygote on first use."""

    def __exit__(self, *exc_info):
        self.close()

    def open(self):
        """Connect to the scheduler (starting a local cluster first if asked)."""
        distributed = import_distributed()
        workers = parse_local(self.address, self.local_workers)
        try:
            if workers is not None:
                self.cluster = distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    # no dashboard; its HTTP server on a free port, not 8787
                    scheduler_kwargs={"allowed_failures": self.retries, "dashboard_address": ":0"},
                )
            target = self.cluster or self.address
            self.client = distributed.Client(target, timeout=self.connect_timeout)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            self.close()
            raise SchedulerError(self.address, one_line(exc)) from None

    def close(self):
        """Disconnect; stop the local cluster if this executor started one."""
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def map_as_completed(self, fn, items, **kwargs):
        """Yield an :class:`Outcome` of ``fn(item, **kwargs)`` per item, in completion order."""
        if self.client is None:
            self.open()
        distributed = import_distributed()
        items = list(items)
        name = getattr(fn, "__name__", "job").strip("_")
        run = uuid4().hex[:8]
        futures = {
            self.client.submit(
                _with_kernel_setting,
                self.warm_kernels,
                fn,
                item,
                key=f"{name}-{run}-{index}",
                retries=self.retries,
                pure=False,
                **kwargs,
            ): index
            for index, item in enumerate(items)
        }
        try:
            for future in distributed.as_completed(futures):
                yield _dask_outcome(items[futures[future]], future)
        except BaseException:
            self.client.cancel(list(futures))
            raise


def _with_kernel_setting(warm_kernels, fn, item, **kwargs):
    """Run in a dask worker: ``fn(item, **kwargs)``, its kernels warm or plain as asked."""
    with zygote_client.warm_kernels_setting(warm_kernels):
        return fn(item, **kwargs)


def _dask_outcome(item, future):
    if future.status == "finished":
        return Outcome(item, future.result(), None)
    try:
        error = future.exception()
    except Exception as exc:  # cancelled futures raise instead of returning
        error = exc
    return Outcome(item, None, error)
