"""The executor on this machine: jobs in this process or in a pool of worker processes.

:class:`LocalExecutor` runs the jobs in this process (``jobs <= 1``) or in a pool of worker
processes (forked from a server that has nsdval imported, see :func:`pool_context`), kept for
the executor's life (a run's extraction and its notebooks share the workers). When a worker
process dies the pool breaks; the unfinished jobs go to a fresh pool, and each job that was
running when a worker died is first re-run alone, so a job that kills its worker every time is
blamed (after ``retries`` solo attempts) without taking the others down with it.

With warm kernels, the pool owns the zygote the notebooks' kernels are forked from
(:mod:`nsdval.run.zygote_client`): it starts it as it is entered, so the zygote imports
while the caller goes on, and its workers attach to it when they start.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from uuid import uuid4

from nsdval.errors import NsdvalError
from nsdval.run import zygote_client
from nsdval.run.executors import RETRIES, Outcome

PRELOAD = ("nsdval.run.runner",)  # what the pool's workers run, imported once by the fork server


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
