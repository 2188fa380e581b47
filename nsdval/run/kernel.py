"""A Jupyter kernel manager pinned to the Python that runs nsdval.

Template notebooks must run in the environment where nsdval is installed, whatever
kernelspecs the user has: a user's ``python3`` kernelspec may point at another Python.
This manager ignores the kernelspec registry and starts ``ipykernel`` with
``sys.executable``.

Warm kernels: unless they are turned off (``nsdval`` reads ``NSDVAL_WARM_KERNELS=0``), each
kernel is forked from a zygote process (:mod:`nsdval.run.zygote`) that has already imported
the templates' modules, instead of being started as ``python -m ipykernel_launcher``
(:class:`ZygoteProvisioner`; the way to the zygote is :mod:`nsdval.run.zygote_client`).
Each notebook still gets a fresh kernel process of its own. If the zygote cannot start or
answer, kernels are started the plain way, and this is logged once.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import weakref
from pathlib import Path
from uuid import uuid4

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner

from nsdval.run import zygote_client
from nsdval.run.zygote_client import ZygoteError, pid_running

KERNEL_NAME = "nsdval-python"
LAUNCHER = [sys.executable, "-m", "ipykernel_launcher"]
POLL_INTERVAL = 0.05
BIND_TIMEOUT = 10.0
BIND_POLL = 0.005


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
        if self.provisioner is None and zygote_client.warm_kernels():
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
    if not zygote_client.warm_kernels():
        return None
    address = zygote_client.zygote_address()
    return str(Path(address.path).parent) if address is not None else None


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
                zygote_client.warn_fallback(exc)
        return await super().launch_kernel(cmd, **kwargs)

    def _fork(self, argv, kwargs):
        env = kwargs.get("env")
        # the launching process, as jupyter_client's own launcher sets it
        env = {**(os.environ if env is None else env), "JPY_PARENT_PID": str(os.getpid())}
        cwd = str(kwargs.get("cwd") or Path.cwd())
        pid, conn = zygote_client.get_zygote().launch(argv, cwd, env)
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
