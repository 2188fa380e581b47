"""A Jupyter kernel manager pinned to the Python that runs nsdval.

Template notebooks must run in the environment where nsdval is installed, whatever
kernelspecs the user has: a user's ``python3`` kernelspec may point at another Python.
This manager ignores the kernelspec registry and starts ``ipykernel`` with
``sys.executable``.

Warm kernels: unless ``NSDVAL_WARM_KERNELS=0``, each kernel is forked from a zygote
process (:mod:`nsdval.run.zygote`) that has already imported the templates' modules, instead
of being started as ``python -m ipykernel_launcher``. Each notebook still gets a fresh
kernel process of its own. A process starts its zygote on first use, or early with
:func:`prestart_zygote`; a run's worker processes attach to the zygote of the run's main
process (:func:`zygote_address`, :func:`use_zygote`), so the imports are paid once per run.
If it cannot start or answer, kernels are started the plain way, and this is logged once.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import NamedTuple
from uuid import uuid4

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner

KERNEL_NAME = "nsdval-python"
WARM_ENV = "NSDVAL_WARM_KERNELS"
LAUNCHER = [sys.executable, "-m", "ipykernel_launcher"]
ZYGOTE_START_TIMEOUT = 120.0
REQUEST_TIMEOUT = 30.0
MAX_ZYGOTE_STARTS = 3
POLL_INTERVAL = 0.05
BIND_TIMEOUT = 10.0
BIND_POLL = 0.005

log = logging.getLogger(__name__)


def this_python_kernelspec():
    """Kernelspec that starts ipykernel with the running interpreter."""
    return KernelSpec(
        # The kernel's own log is silenced: jupyter_client interrupts every kernel it shuts
        # down, which ipykernel logs as an error; cell errors reach the notebook regardless.
        argv=[
            *LAUNCHER,
            "-f",
            "{connection_file}",
            "--IPKernelApp.log_level=CRITICAL",
        ],
        display_name=f"Python ({sys.executable})",
        language="python",
        resource_dir="",
        metadata={"debugger": False},
    )


class ThisPythonKernelManager(AsyncKernelManager):
    """Kernel manager whose kernel is always ``sys.executable -m ipykernel_launcher``.

    On POSIX systems the kernel talks over Unix sockets in a private temporary folder
    instead of TCP ports: kernels started at the same moment by parallel workers cannot
    race for the same port, and no port is opened on the machine.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._socket_dir = None
        if os.name == "posix":
            self._socket_dir = tempfile.mkdtemp(prefix="nsdval-kernel-", dir=sockets_parent())
            weakref.finalize(self, shutil.rmtree, self._socket_dir, True)
            self.transport = "ipc"
            self.ip = str(Path(self._socket_dir) / "kernel")

    async def _async_cleanup_resources(self, restart=False):
        """Clean up as jupyter_client does, then remove the socket folder (unless restarting).

        The folder's finalizer alone is not enough: pool workers exit without running it.
        """
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources  # what nbclient calls

    @property
    def kernel_spec(self):
        """The pinned kernelspec, whatever ``kernel_name`` says."""
        if self._kernel_spec is None:
            self._kernel_spec = this_python_kernelspec()
        return self._kernel_spec

    async def _async_pre_start_kernel(self, **kw):
        """Use the zygote provisioner (warm kernels) when enabled, then prepare as usual."""
        if self.provisioner is None and warm_kernels_enabled():
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid4())
            self.provisioner = ZygoteProvisioner(
                kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self
            )
        return await super()._async_pre_start_kernel(**kw)


def sockets_parent():
    """Folder for a kernel's socket folder: the zygote's own folder when kernels are warm.

    The zygote's folder is removed when the zygote exits, which it does when the run's main
    process exits, however it ends: a killed worker or an interrupted run leaves no socket
    folder behind. ``None`` (the temporary folder) for plain kernels.
    """
    address = zygote_address()
    return str(Path(address.path).parent) if address is not None else None


def warm_kernels_enabled():
    """Whether kernels are forked from a zygote (``NSDVAL_WARM_KERNELS``, default on)."""
    return os.environ.get(WARM_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


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
_zygote = {"client": None, "starts": 0, "pid": None, "warned": False}


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

    The run's main process calls it first, so the zygote imports while the inputs are
    checked and extracted. Does nothing when warm kernels are off or a zygote is running.
    """
    if not warm_kernels_enabled():
        return
    with _lock:
        if _current_client() is None:
            try:
                _spawn_own()
            except ZygoteError as exc:
                _warn_fallback(exc)


def zygote_address():
    """Address of this process's zygote (started, and waited for, if need be), or ``None``.

    ``None`` when warm kernels are off or no zygote could be started; worker processes
    then start kernels on their own.
    """
    if not warm_kernels_enabled():
        return None
    try:
        return get_zygote().address
    except ZygoteError as exc:
        _warn_fallback(exc)
        return None


def use_zygote(address):
    """Fork this process's kernels from the zygote at ``address`` (another process's).

    Called in a worker process with the address the run's main process published; ``None``
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


def _warn_fallback(exc):
    if not _zygote["warned"]:
        _zygote["warned"] = True
        log.warning("warm kernels unavailable, starting kernels the plain way: %s", exc)


class ZygoteProvisioner(LocalProvisioner):
    """Kernel provisioner whose kernel is forked by the zygote instead of ``Popen``.

    The kernel is the zygote's child, not ours: its exit is read from the zygote's report
    on the request's connection (or, if the zygote died, from ``/proc``), and signals go
    to its process group (the kernel leads a session of its own). When the zygote is not
    available the kernel is started with ``Popen``, exactly as :class:`LocalProvisioner`.
    """

    zygote_pid = None
    exit_code = None
    conn = None

    @property
    def has_process(self):
        """Whether a kernel was started and not yet waited for."""
        return self.zygote_pid is not None or super().has_process

    async def launch_kernel(self, cmd, **kwargs):
        """Fork the kernel from the zygote; fall back to ``Popen`` if that fails."""
        if cmd[: len(LAUNCHER)] == LAUNCHER:
            try:
                return await asyncio.to_thread(self._fork, cmd[len(LAUNCHER) :], kwargs)
            except ZygoteError as exc:
                _warn_fallback(exc)
        return await super().launch_kernel(cmd, **kwargs)

    def _fork(self, argv, kwargs):
        env = kwargs.get("env")
        # the launching process, as jupyter_client's own launcher sets it
        env = {**(os.environ if env is None else env), "JPY_PARENT_PID": str(os.getpid())}
        cwd = str(kwargs.get("cwd") or Path.cwd())
        pid, conn = get_zygote().launch(argv, cwd, env)
        self.zygote_pid = self.pid = self.pgid = pid
        self.exit_code = None
        self.conn = conn
        self.cwd = cwd
        self._wait_for_sockets()
        return self.connection_info

    def _wait_for_sockets(self, timeout=BIND_TIMEOUT):
        """Wait until the kernel has bound its IPC sockets (or died, or ``timeout``).

        A client that connects before the kernel binds is only reconnected by ZMQ after
        its reconnect interval (100 ms); waiting here spares each notebook that delay.
        """
        info = self.connection_info
        if info.get("transport") != "ipc":
            return
        ports = [info[name] for name in info if name.endswith("_port")]
        paths = [Path(f"{info['ip']}-{port}") for port in ports]
        deadline = time.monotonic() + timeout
        while not all(path.exists() for path in paths) and time.monotonic() < deadline:
            if not pid_running(self.zygote_pid):
                return
            time.sleep(BIND_POLL)

    async def poll(self):
        """The kernel's exit code, or ``None`` while it runs."""
        if self.zygote_pid is None:
            return await super().poll()
        if self.exit_code is None:
            self.exit_code = self._read_exit()
        return self.exit_code

    def _read_exit(self):
        """Exit code reported by the zygote, or probed from /proc if the zygote is gone."""
        try:
            data = self.conn.recv(65536)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if data:
            return json.loads(data).get("exit", -signal.SIGKILL)
        return None if pid_running(self.zygote_pid) else -signal.SIGKILL

    async def wait(self):
        """Wait for the kernel to exit; return its exit code."""
        if self.zygote_pid is None:
            return await super().wait()
        while (code := await self.poll()) is None:
            await asyncio.sleep(POLL_INTERVAL)
        self._forget()
        return code

    async def send_signal(self, signum):
        """Signal the kernel's process group (nothing once it has exited)."""
        if self.zygote_pid is None:
            return await super().send_signal(signum)
        if await self.poll() is not None:
            return None
        try:
            os.killpg(self.zygote_pid, signum)
        except ProcessLookupError:
            pass
        return None

    async def kill(self, restart=False):
        """Kill the kernel (SIGKILL to its process group)."""
        if self.zygote_pid is None:
            return await super().kill(restart)
        return await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart=False):
        """Terminate the kernel (SIGTERM to its process group)."""
        if self.zygote_pid is None:
            return await super().terminate(restart)
        return await self.send_signal(signal.SIGTERM)

    async def cleanup(self, restart=False):
        """Close the report connection, then clean up as :class:`LocalProvisioner`."""
        if self.zygote_pid is not None and self.exit_code is not None:
            self._forget()
        await super().cleanup(restart)

    def _forget(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None
        self.zygote_pid = None


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
