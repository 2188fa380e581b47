"""Where a run's jobs execute: this machine's process pool or a dask.distributed cluster.

Both executors offer one operation, :meth:`map_as_completed`, which calls ``fn(item,
**kwargs)`` for every item and yields an :class:`Outcome` per item in completion order. A
job that raises, or whose worker keeps dying, yields an outcome with ``error`` set instead
of stopping the batch; the runner turns it into an ``error`` record.

:class:`LocalExecutor` runs the jobs in this process (``jobs <= 1``) or in a pool of worker
processes (forked from a server that has nsdval imported, see :func:`pool_context`), kept for
the executor's life (a run's extraction and its notebooks share the workers). When a worker
process dies the pool breaks; the unfinished jobs go to a fresh pool, and each job that was
running when a worker died is first re-run alone, so a job that kills its worker every time is
blamed (after ``retries`` solo attempts) without taking the others down with it.

:class:`DaskExecutor` submits the jobs to a running dask.distributed scheduler (or to a
:class:`distributed.LocalCluster` it starts, for ``local`` / ``local:N``). Workers write
to the output folder directly, so the output folder and the NSD root must be on a
filesystem every worker sees, at the same paths. The scheduler reschedules the tasks of a
worker that died, up to its ``distributed.scheduler.allowed-failures`` setting (default
3); a job that killed more workers than that fails with ``KilledWorker``.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, NamedTuple
from uuid import uuid4

from nsdval.errors import DependencyError, NsdvalError, ParameterError, one_line
from nsdval.run import zygote_client

EXECUTORS = ("local", "dask")
RETRIES = 2
CONNECT_TIMEOUT = 5.0
LOCAL_SCHEDULER = "local"
PRELOAD = ("nsdval.run.runner",)  # what the pool's workers run, imported once by the fork server


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


class WorkerLostError(NsdvalError, RuntimeError):
    """A job's worker process died every time the job ran.

    Parameters
    ----------
    item : object
        The job.
    attempts : int
        How many times it ran (0: the worker processes died before it could start).
    """

    def __init__(self, item, attempts):
        self.item = item
        self.attempts = attempts
        super().__init__(self.item, attempts)

    def __str__(self):
        if not self.attempts:
            # the usual cause: workers import the caller's main module, which ran the pool again
            return (
                "no worker process could start the job (a script that starts nsdval's workers "
                "must do so under `if __name__ == '__main__':`)"
            )
        return f"the worker process died in each of {self.attempts} attempts at the job"


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


def for_config(config):
    """The executor a :class:`~nsdval.run.runner.RunConfig` asks for (use it as a context)."""
    check_choice(config.executor, config.scheduler)
    if config.executor == "dask":
        return DaskExecutor(
            config.scheduler, local_workers=config.jobs, warm_kernels=config.warm_kernels
        )
    return LocalExecutor(config.jobs, warm_kernels=config.warm_kernels)


# --- this machine ------------------------------------------------------------------------
_started_queue = None


def _start_worker(started_queue, warm_kernels, zygote):
    """Set a pool worker up: where it announces started items, and how it starts kernels.

    ``zygote`` is the address of the zygote the pool started (``None``: the worker starts
    one of its own on first use, if its kernels are warm).
    """
    global _started_queue
    _started_queue = started_queue
    zygote_client.set_warm_kernels(warm_kernels)
    zygote_client.attach_zygote(zygote)


def _tracked(fn, tag, item, kwargs):
    """Run in a pool worker: announce ``tag`` (round, index) as started, then call ``fn``."""
    _started_queue.put(tag)
    return fn(item, **kwargs)


class LocalExecutor:
    """Jobs in this process (``jobs <= 1``) or in a pool of ``jobs`` worker processes.

    Parameters
    ----------
    jobs : int
        Jobs executed at once.
    retries : int
        Solo re-runs of a job whose worker died before it is given up as
        :class:`WorkerLostError`.
    warm_kernels : bool
        Fork the kernels of the notebooks the jobs execute from one zygote that the pool
        starts (see :meth:`warm_up`) and all its workers share; off, kernels start plain.
    """

    def __init__(self, jobs=1, *, retries=RETRIES, warm_kernels=False):
        self.jobs = jobs
        self.retries = retries
        self.warm_kernels = warm_kernels
        self._pool = None
        self._started = None  # the queue on which the pool's workers announce started items

    def __enter__(self):
        self.warm_up()
        return self

    def warm_up(self):
        """Start the zygote of the jobs' kernels now; it imports while the caller goes on.

        Does nothing with warm kernels off, or while the zygote runs. The workers attach to
        it when they start; jobs run in this process use it directly.
        """
        if self.warm_kernels:
            zygote_client.prestart_zygote()

    def __exit__(self, exc_type, *exc_info):
        if exc_type is None:
            self.shutdown()
        else:
            self.close()

    def shutdown(self):
        """Let the pool's idle workers exit (the end of a run)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def close(self):
        """Terminate a pool left running (after an interrupt or an error)."""
        if self._pool is not None:
            _terminate(self._pool)
            self._pool = None

    def map_as_completed(self, fn, items, **kwargs):
        """Yield an :class:`Outcome` of ``fn(item, **kwargs)`` per item, in completion order.

        A single item, or ``jobs <= 1``, runs in this process.
        """
        items = list(items)
        if min(self.jobs, len(items)) <= 1:
            yield from _in_process(fn, items, kwargs, self.warm_kernels)
        else:
            yield from self._pooled(fn, items, kwargs)

    def _pooled(self, fn, items, kwargs):
        pending = dict(enumerate(items))
        deaths = dict.fromkeys(pending, 0)
        idle_rounds = 0  # pools that broke before any item started (e.g. workers never came up)
        while pending:
            if idle_rounds > self.retries:
                for index in list(pending):
                    del pending[index]
                    yield Outcome(items[index], None, WorkerLostError(items[index], 0))
                return
            suspect = next((i for i in pending if deaths[i]), None)
            batch = [suspect] if suspect is not None else list(pending)
            lost, before = set(), len(pending)
            for index, result, error in self._round(fn, batch, items, kwargs, lost):
                del pending[index]
                yield Outcome(items[index], result, error)
            idle_rounds = 0 if lost or len(pending) < before else idle_rounds + 1
            for index in lost:
                deaths[index] += 1
                if deaths[index] > self.retries:
                    del pending[index]
                    yield Outcome(items[index], None, WorkerLostError(items[index], deaths[index]))

    def _round(self, fn, batch, items, kwargs, lost):
        """Run the items at indices ``batch`` in the pool (a fresh one if it broke).

        Yields ``(index, result, error)`` of the items that finished; puts in ``lost`` the
        indices of items that had started when a worker died. The pool outlives the call,
        so a run's extraction and its notebooks share the same workers.
        """
        pool, started_queue = self._get_pool()
        token = uuid4().hex  # started items are announced per round
        started, broken = set(), set()
        try:
            futures = {
                pool.submit(_tracked, fn, (token, index), items[index], kwargs): index
                for index in batch
            }
            for future in as_completed(futures):
                _drain(started_queue, started)
                error = future.exception()
                if isinstance(error, BrokenProcessPool):
                    broken.add(futures[future])
                    continue
                if isinstance(error, KeyboardInterrupt):  # Ctrl-C reached the workers first
                    raise error
                yield futures[future], None if error else future.result(), error
        except BaseException:
            self.close()
            raise
        if broken:
            self.close()
        _drain(started_queue, started)
        lost.update(broken & {index for round_token, index in started if round_token == token})

    def _get_pool(self):
        """The running pool and its started-items queue, started on first use.

        With warm kernels, the workers get the address of the pool's zygote, waited for
        until it has done its imports.
        """
        if self._pool is None:
            context = pool_context()
            self._started = context.SimpleQueue()
            zygote = zygote_client.zygote_address() if self.warm_kernels else None
            self._pool = ProcessPoolExecutor(
                self.jobs,
                mp_context=context,
                initializer=_start_worker,
                initargs=(self._started, self.warm_kernels, zygote),
            )
        return self._pool, self._started


def pool_context():
    """The start method of the pool's workers: forked from a server that has nsdval imported.

    A "forkserver" starts once per process, imports :data:`PRELOAD`, then forks each
    worker: the workers start with the imports done, and (unlike a plain fork of this
    process) without whatever threads or open files the caller has. Where there is no fork
    server (Windows), workers are spawned and import on their own.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    return context


def _in_process(fn, items, kwargs, warm_kernels):
    for item in items:
        try:
            with zygote_client.warm_kernels_setting(warm_kernels):
                result = fn(item, **kwargs)
        except Exception as exc:  # reported per item, like a pool worker's exception
            yield Outcome(item, None, exc)
        else:
            yield Outcome(item, result, None)


def _drain(queue, into):
    while not queue.empty():
        into.add(queue.get())


def _terminate(pool):
    """Cancel what has not started and kill the workers now: no waiting on running jobs."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()


# --- a dask.distributed cluster ------------------------------------------------------------
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
