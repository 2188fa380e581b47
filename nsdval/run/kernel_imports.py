"""What the zygote imports once so that every kernel it forks starts with it done.

Starting a kernel and importing the template notebooks' modules costs about a second of CPU
per notebook; the zygote (:mod:`nsdval.run.zygote`) pays it once, with :func:`preload`,
before it forks any kernel.
"""

from __future__ import annotations

import importlib
import os

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
# What every fresh kernel imports before running a cell.
KERNEL_MODULES = (
    "IPython",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",
)
# What the template notebooks (and `%matplotlib inline`) import.
# ``matplotlib_inline.backend_inline`` itself is left out: it configures IPython when it is
# first imported, which must happen in the kernel.
TEMPLATE_MODULES = (
    "numpy",
    "scipy",
    "scipy.stats",
    "scipy.linalg",
    "pandas",
    "xarray",
    "matplotlib",
    "matplotlib.pyplot",
    "matplotlib.backends.backend_agg",
    "IPython.core.pylabtools",
    "h5py",
    "h5netcdf",
    "nibabel",
    "nsdval.data.assemblies",
    "nsdval.analysis.benchmark",
    "nsdval.analysis.checks",
    "nsdval.analysis.figures",
    "nsdval.analysis.noiseceiling",
    "nsdval.analysis.structure",
    "nsdval.analysis.validation",
)
# Lookups that libraries make lazily, on first use, and cache for the process: xarray finds
# its chunk managers (importing dask, when installed) the first time it decodes a variable.
WARM_CALLS = (("xarray.namedarray.parallelcompat", "list_chunkmanagers"),)
IMPORT_ENV = {}  # environment variables set by the preloaded modules' imports


def preload():
    """Import the modules kernels will need; return the names that failed to import.

    Environment variables set by the kernel's own imports (debugpy's ``PYDEVD_*``) are
    kept in :data:`IMPORT_ENV` for the kernels, which would have set them themselves; those
    set by the templates' modules are not (a kernel sets them when it imports the module).
    ``MPLBACKEND`` is set to the inline backend before matplotlib is imported, as ipykernel
    does in a fresh kernel.
    """
    before = dict(os.environ)
    failed = import_all(KERNEL_MODULES)
    IMPORT_ENV.update({k: v for k, v in os.environ.items() if before.get(k) != v})
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    return failed + import_all(TEMPLATE_MODULES) + call_all(WARM_CALLS)


def import_all(modules):
    """Import ``modules``; return the names that failed to import."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional module only costs its import in the kernel
            failed.append(name)
    return failed


def call_all(calls):
    """Call each ``(module, function)`` of ``calls``; return the names that failed."""
    failed = []
    for module, function in calls:
        try:
            getattr(importlib.import_module(module), function)()
        except Exception:  # the kernel makes the call itself, as it would without a zygote
            failed.append(f"{module}.{function}")
    return failed
