"""A Jupyter kernel manager pinned to the Python that runs nsdval.

Template notebooks must run in the environment where nsdval is installed, whatever
kernelspecs the user has: a user's ``python3`` kernelspec may point at another Python.
This manager ignores the kernelspec registry and starts ``ipykernel`` with
``sys.executable``.
"""

from __future__ import annotations

import sys

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager

KERNEL_NAME = "nsdval-python"


def this_python_kernelspec():
    """Kernelspec that starts ipykernel with the running interpreter."""
    return KernelSpec(
        argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        display_name=f"Python ({sys.executable})",
        language="python",
        resource_dir="",
        metadata={"debugger": False},
    )


class ThisPythonKernelManager(AsyncKernelManager):
    """Kernel manager whose kernel is always ``sys.executable -m ipykernel_launcher``."""

    @property
    def kernel_spec(self):
        """The pinned kernelspec, whatever ``kernel_name`` says."""
        if self._kernel_spec is None:
            self._kernel_spec = this_python_kernelspec()
        return self._kernel_spec
