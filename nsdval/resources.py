"""Where nsdval's shipped files are: the template notebooks and the page templates.

In the repository they sit beside the package (``notebooks/``, ``templates/``); a wheel
carries them inside it (``nsdval/notebooks``, ``nsdval/templates``, see pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def shipped(name):
    """The folder ``name`` (``notebooks`` or ``templates``): in the package, else beside it.

    Examples
    --------
    >>> shipped("templates").joinpath("page.html.j2").is_file()
    True
    """
    inside = PACKAGE / name
    return inside if inside.is_dir() else PACKAGE.parent / name
