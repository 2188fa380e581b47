"""Reading inputs in watched child processes: never a hang, never a lost crash.

A damaged file can make a library spin forever (h5py walking the dimension scales of a
netCDF file whose metadata was zeroed did) or kill its process. Every read of the run's
inputs before the notebooks (the pre-flight, the extraction pass) therefore happens in a
child process that reports each file it opens with :func:`heartbeat`. The parent waits
on all children at once: a child that sends no heartbeat for ``timeout`` seconds is
killed and the file it was reading is named in an
:class:`~nsdval.errors.InputError`; so is one that dies. Heartbeats also carry progress
(sessions read, bytes), which the parent hands to its ``on_beat`` callback.

Outside a watched child (a notebook, a test calling the readers directly),
:func:`heartbeat` does nothing.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time
import warnings
from multiprocessing.connection import wait

from nsdval.errors import InputError, one_line

DEFAULT_TIMEOUT = 120.0
"""Seconds a child may spend on one file (one session, for the extraction) by default."""

_connection = None  # the pipe to the parent, in a watched child only
_sending = threading.Lock()


def heartbeat(path, **info):
    """Tell the watching parent that ``path`` is being read now, with progress ``info``.

    ``path`` ``None`` reports progress on the file named last.
    """
    if _connection is not None:
        with _sending:  # the extraction reads in a thread while its caller reports progress
            _connection.send(("beat", None if path is None else str(path), info))


def default_context():
    """Children forked from a fork server (none of the caller's threads), else spawned."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _child_main(connection, fn, kwargs):
    global _connection
    _connection = connection
    # a reader's warnings and finalizer errors about a damaged file would reach the
    # terminal as tracebacks; what failed comes back to the parent as an exception
    warnings.simplefilter("ignore")
    sys.unraisablehook = lambda unraisable: None
    try:
        result = fn(**kwargs)
    except BaseException as exc:  # everything goes back to the parent, which decides
        try:
            connection.send(("error", exc))
        except Exception:  # an exception that does not pickle
            connection.send(("error", RuntimeError(f"{type(exc).__name__}: {one_line(exc)}")))
    else:
        connection.send(("done", result))
    finally:
        connection.close()


class _Child:
    def __init__(self, index, process, connection, what):
        self.index = index
        self.process = process
        self.connection = connection
        self.path = what
        self.last_beat = time.monotonic()

    def stop(self):
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.connection.close()


def run_watched(calls, *, timeout=DEFAULT_TIMEOUT, jobs=1, on_beat=None, context=None):
    """Call each ``fn(**kwargs)`` in a child process, at most ``jobs`` at once.

    Parameters
    ----------
    calls : sequence of (callable, dict, str)
        Picklable module-level function, its keyword arguments, and what it reads (named
        when it stalls before its first heartbeat).
    timeout : float
        Seconds without a heartbeat after which a child is killed.
    jobs : int
        Children running at once.
    on_beat : callable or None
        ``on_beat(index, path, info)`` for every heartbeat of call ``index``.
    context : multiprocessing context or None
        How children start (default: :func:`default_context`; a run passes its process
        pool's, whose fork server has nsdval imported).

    Yields
    ------
    (int, object)
        Index of a finished call and its result, in completion order.

    Raises
    ------
    InputError
        A child stalled or died: names the file it was reading. Every other child is
        killed first.
    Exception
        The first exception a call raised, after every other child is killed.
    """
    context = context or default_context()
    waiting = list(enumerate(calls))
    running = {}
    try:
        while waiting or running:
            while waiting and len(running) < max(1, jobs):
                index, (fn, kwargs, what) = waiting.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_child_main, args=(send, fn, kwargs))
                process.start()
                send.close()
                running[receive] = _Child(index, process, receive, what)
            for connection in wait(list(running), timeout=min(1.0, timeout)):
                child = running[connection]
                finished, result = _receive(child, on_beat)
                if finished:
                    del running[connection]
                    child.stop()
                    yield child.index, result
            now = time.monotonic()
            for child in running.values():
                if now - child.last_beat > timeout:
                    raise InputError(
                        child.path,
                        f"no progress reading it within {timeout:g} s (a damaged file?)",
                    )
    finally:
        for child in running.values():
            child.stop()


def _receive(child, on_beat):
    """Handle one message of ``child``: (True, result) when it finished, else (False, None)."""
    try:
        kind, *payload = child.connection.recv()
    except (EOFError, OSError):
        child.process.join(timeout=5)
        code = child.process.exitcode
        raise InputError(
            child.path, f"the reading process died (exit code {code}) while reading it"
        ) from None
    if kind == "beat":
        path, info = payload
        child.path = path or child.path
        child.last_beat = time.monotonic()
        if on_beat is not None:
            on_beat(child.index, child.path, info)
        return False, None
    if kind == "error":
        raise payload[0]
    return True, payload[0]
