"""The way to the zygote that forks warm kernels (:mod:`nsdval.run.zygote`), per process.

A :class:`ZygoteClient` asks a zygote for kernels: a zygote this process started (its own,
a child that exits with it) or one another process started and this one attaches to. The
process keeps one client and one setting, :func:`warm_kernels` (on unless whoever runs the
jobs turns it off). The local pool starts its zygote as a run begins
(:func:`prestart_zygote`) and its workers attach to it (:func:`zygote_address`,
:func:`attach_zygote`), so the imports are paid once per run; a process with no zygote
starts one on first use. A zygote that cannot start is tried again at most
:data:`MAX_ZYGOTE_STARTS` times per process; each failure leaves the kernels to start the
plain way, which is logged once.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import NamedTuple

ZYGOTE_START_TIMEOUT = 120.0
REQUEST_TIMEOUT = 30.0
MAX_ZYGOTE_STARTS = 3

log = logging.getLogger(__name__)


class ZygoteError(RuntimeError):
    """The zygote could not be started or did not answer a request."""


class ZygoteAddress(NamedTuple):
    """Where a running zygote listens: its pid and the path of its socket."""

    pid: int
    path: str


class ZygoteClient:
    """Asks a zygote for kernels: one this process starts, or one it attaches to.

    An own zygote (``python -m nsdval.run.zygote SOCKET``) is a child of this process and exits
    when this process exits. With ``address``, the client uses a zygote that another
    process (the run's main process) started and stops: the worker processes of a run share
    one zygote, so its imports are paid once.

    Parameters
    ----------
    address : ZygoteAddress or None
        A running zygote to attach to; ``None`` for one of this process's own.
    """

    def __init__(self, address=None):
        self.process = None
        self.owner = os.getpid()
        if address is None:
            self.dir = tempfile.mkdtemp(prefix="nsdval-zygote-")
            self.path = str(Path(self.dir) / "zygote.sock")
            self.pid = None
            self.ready = False
        else:
            self.dir = None
            self.pid, self.path = address
            self.ready = True

    @property
    def address(self):
        """The :class:`ZygoteAddress` other processes can attach to."""
        return ZygoteAddress(self.pid, self.path)

    @property
    def log_path(self):
        """The own zygote's stderr."""
        return Path(self.dir) / "zygote.log" if self.dir else None

    def start(self, timeout=ZYGOTE_START_TIMEOUT):
        """Start the zygote and wait until it listens.

        Raises
        ------
        ZygoteError
            If it exits or stays silent for ``timeout`` seconds.
        """
        self.spawn()
        self.wait_ready(timeout)

    def spawn(self):
        """Start the zygote process; it imports the modules while this process goes on."""
        with self.log_path.open("ab") as errors:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "nsdval.run.zygote", self.path, self.dir],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                cwd=self.dir,
                start_new_session=True,
            )
        self.pid = self.process.pid

    def wait_ready(self, timeout=ZYGOTE_START_TIMEOUT):
        """Wait until the spawned zygote listens (it says ``ready``).

        Raises
        ------
        ZygoteError
            If it exits or stays silent for ``timeout`` seconds (it is then stopped).
        """
        if self.ready:
            return
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else b""
        self.process.stdout.close()
        if line.strip() != b"ready":
            self.close()
            raise ZygoteError(f"the zygote did not start; its log: {self.log_tail()}")
        self.ready = True

    def log_tail(self, size=2000):
        """The end of the zygote's stderr."""
        try:
            return self.log_path.read_text(errors="replace")[-size:].strip() or "(empty)"
        except (OSError, AttributeError):
            return "(unreadable)"

    def alive(self):
        """Whether the zygote process is running."""
        if self.dir is None:  # attached: another process's zygote
            return pid_running(self.pid) and Path(self.path).exists()
        return self.process is not None and self.process.poll() is None

    def launch(self, argv, cwd, env):
        """Ask for a kernel running ``ipykernel_launcher ARGV``.

        Returns
        -------
        pid : int
            The kernel's pid.
        conn : socket.socket
            The connection on which the zygote will report the kernel's exit. The zygote
            kills the kernel if this connection closes first (this process died).
        """
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            conn.settimeout(REQUEST_TIMEOUT)
            conn.connect(self.path)
            request = {"argv": list(argv), "cwd": cwd, "env": dict(env)}
            socket.send_fds(conn, [json.dumps(request).encode()], [1, 2])
            reply = json.loads(conn.recv(65536) or b"{}")
        except (OSError, ValueError) as exc:
            conn.close()
            raise ZygoteError(f"the zygote did not answer: {exc}") from exc
        if "pid" not in reply:
            conn.close()
            raise ZygoteError(f"the zygote could not fork: {reply.get('error', 'no reply')}")
        conn.setblocking(False)
        return reply["pid"], conn

    def close(self):
        """Stop an own zygote (its kernels die with it) and remove its folder.

        Does nothing for an attached zygote, or in a forked copy of the owner process.
        """
        if self.dir is None or os.getpid() != self.owner:
            return
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


_lock = threading.Lock()
_zygote = {"client": None, "starts": 0, "pid": None, "warned": False, "warm": True}


def warm_kernels():
    """Whether this process forks its kernels from a zygote (default) or starts them plain.

    Set by whoever runs the jobs (:class:`~nsdval.run.pool.LocalExecutor` for its
    workers, the dask tasks for theirs), from the command line's setting.
    """
    return _zygote["warm"]


def set_warm_kernels(enabled):
    """Fork this process's kernels from a zygote (``True``) or start them plain; the old value."""
    previous, _zygote["warm"] = _zygote["warm"], bool(enabled)
    return previous


@contextlib.contextmanager
def warm_kernels_setting(enabled):
    """Fork (``True``) or start plain this process's kernels inside the ``with`` block only."""
    previous = set_warm_kernels(enabled)
    try:
        yield
    finally:
        set_warm_kernels(previous)


def _current_client():
    """The client of this process, if its zygote still runs (call with the lock held)."""
    if _zygote["pid"] != os.getpid():  # a forked copy of this module: start afresh
        _zygote.update(client=None, starts=0, pid=os.getpid())
    client = _zygote["client"]
    if client is not None and not client.alive():
        client.close()
        client = _zygote["client"] = None
    return client


def _spawn_own():
    """Spawn a zygote of this process's own and remember it (call with the lock held)."""
    if _zygote["starts"] >= MAX_ZYGOTE_STARTS:
        raise ZygoteError(f"the zygote failed {MAX_ZYGOTE_STARTS} times")
    _zygote["starts"] += 1
    client = ZygoteClient()
    try:
        client.spawn()
    except (OSError, ZygoteError) as exc:
        client.close()
        raise ZygoteError(f"the zygote could not be started: {exc}") from exc
    atexit.register(client.close)
    _zygote["client"] = client
    return client


def get_zygote():
    """Return the running zygote of this process, started on first use.

    Raises
    ------
    ZygoteError
        If it cannot be started (after :data:`MAX_ZYGOTE_STARTS` attempts per process).
    """
    with _lock:
        client = _current_client() or _spawn_own()
        try:
            client.wait_ready()  # at once if it was prestarted and is ready
        except ZygoteError:
            _zygote["client"] = None
            raise
        return client


def prestart_zygote():
    """Start this process's zygote now, without waiting for its imports.

    The local pool calls it as a run begins, so the zygote imports while the inputs are
    checked and extracted. Does nothing when a zygote is running; one that cannot start is
    logged, and kernels start the plain way.
    """
    with _lock:
        if _current_client() is None:
            try:
                _spawn_own()
            except ZygoteError as exc:
                warn_fallback(exc)


def zygote_address():
    """Address of this process's zygote (started, and waited for, if need be), or ``None``.

    ``None`` when no zygote could be started; worker processes then start kernels on their
    own.
    """
    try:
        return get_zygote().address
    except ZygoteError as exc:
        warn_fallback(exc)
        return None


def attach_zygote(address):
    """Fork this process's kernels from the zygote at ``address`` (another process's).

    Called in a pool worker with the address of the zygote the pool started; ``None``
    leaves the worker to start a zygote of its own on first use.
    """
    if address is None:
        return
    with _lock:
        client = _current_client()
        if client is not None and client.path == address.path:
            return
        if client is not None:
            client.close()
        _zygote["client"] = ZygoteClient(ZygoteAddress(*address))


def warn_fallback(exc):
    """Log, once per process, that kernels start the plain way, and why."""
    if not _zygote["warned"]:
        _zygote["warned"] = True
        log.warning("warm kernels unavailable, starting kernels the plain way: %s", exc)


def pid_running(pid):
    """Whether ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")
