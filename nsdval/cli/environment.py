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
HELP = (
    f"environment: {WARM_KERNELS_ENV}=0 (or false, no, off) starts each notebook's kernel "
    "the plain way instead of forking it from a process that has the templates' imports done"
)


def warm_kernels_wanted():
    """Whether notebooks' kernels are forked warm: ``NSDVAL_WARM_KERNELS`` unset or not off.

    The setting travels down in :class:`~nsdval.run.plan.RunConfig` (or as an argument) to
    the executors, which set their workers up with it.
    """
    return os.environ.get(WARM_KERNELS_ENV, "1").strip().lower() not in OFF


def user_cache_folder():
    """The user's cache folder: ``$XDG_CACHE_HOME``, else ``~/.cache``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
