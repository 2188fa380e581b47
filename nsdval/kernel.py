"""A Jupyter kernel manager pinned to the Python that runs nsdval.

Template notebooks must run in the environment where nsdval is installed, whatever
kernelspecs the user has: a user's ``python3`` kernelspec may point at another Python.
This manager ignores the kernelspec registry and starts ``ipykernel`` with
``sys.executable``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import weakref
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager

KERNEL_NAME = "nsdval-python"


def this_python_kernelspec():
    """Kernelspec that starts ipykernel with the running interpreter."""
    return KernelSpec(
        # The kernel's own log is silenced: jupyter_client interrupts every kernel it shuts
        # down, which ipykernel logs as an error; cell errors reach the notebook regardless.
        argv=[
            sys.executable,
            "-m",
            "ipykernel_launcher",
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
            self._socket_dir = tempfile.mkdtemp(prefix="nsdval-kernel-")
            weakref.finalize(self, shutil.rmtree, self._socket_dir, True)
            self.transport = "ipc"
            self.ip = str(Path(self._socket_dir) / "kernel")

    @property
    def kernel_spec(self):
        """The pinned kernelspec, whatever ``kernel_name`` says."""
        if self._kernel_spec is None:
            self._kernel_spec = this_python_kernelspec()
        return self._kernel_spec
