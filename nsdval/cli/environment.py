"""What ``nsdval`` reads from its environment: the one module of nsdval that reads it.

Everything below the command line gets these settings as values (the run's
:class:`~nsdval.run.plan.RunConfig`, arguments); ``tests/unit/test_environment.py`` fails on
a read anywhere else.
"""

from __future__ import annotations

import os
from pathlib import Path

WARM_KERNELS_ENV = "NSDVAL_WARM_KERNELS"
OFF = ("0", "false", "no", "off")
BLAS_THREADS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
HELP = (
    f"environment: {WARM_KERNELS_ENV}=0 (or false, no, off) starts each notebook's kernel "
    "the plain way instead of forking it from a process that has the templates' imports "
    f"done. Unless one of {', '.join(BLAS_THREADS_ENV)} is set, each of the --jobs "
    "processes gets cores/jobs BLAS threads (more threads than cores made small linear "
    "algebra up to 10x slower)"
)


def warm_kernels_wanted():
    """Whether notebooks' kernels are forked warm: ``NSDVAL_WARM_KERNELS`` unset or not off.

    The setting travels down in :class:`~nsdval.run.plan.RunConfig` (or as an argument) to
    the executors, which set their workers up with it.
    """
    return os.environ.get(WARM_KERNELS_ENV, "1").strip().lower() not in OFF


def share_cores(jobs):
    """Give each of ``jobs`` parallel workers its share of the cores for BLAS threads.

    Sets :data:`BLAS_THREADS_ENV` to ``cpu_count // jobs`` (at least 1) in this process's
    environment, which the kernels, the zygote, the extraction processes and a local dask
    cluster inherit when they start; a user's own setting of any of them is left alone.
    OpenBLAS spins its threads while it waits: with two notebooks each running two threads
    on two cores, a 100 x 100 ``eigh`` took 0.13 s instead of 2 ms.

    Returns
    -------
    int or None
        The threads per worker set, or ``None`` when the user's setting stands.
    """
    if any(name in os.environ for name in BLAS_THREADS_ENV):
        return None
    threads = max(1, (os.cpu_count() or 1) // max(1, int(jobs)))
    os.environ.update(dict.fromkeys(BLAS_THREADS_ENV, str(threads)))
    return threads


def user_cache_folder():
    """The user's cache folder: ``$XDG_CACHE_HOME``, else ``~/.cache``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
