"""Exception classes raised by nsdval.

Every error derives from :class:`NsdvalError` and from the builtin it refines, so callers
may catch either. Errors carry their data in attributes and stay picklable (their ``args``
rebuild them), which the process pool of the runner relies on. Each message names the
file or parameter first, then what is wrong with it.
"""

from __future__ import annotations


class NsdvalError(Exception):
    """Base class of all nsdval errors."""


class _PathError(NsdvalError):
    """An error about one path: ``str()`` is ``"PATH: PROBLEM"``."""

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(path, problem)

    def __str__(self):
        return f"{self.path}: {self.problem}"


class InputError(_PathError, ValueError):
    """A data file exists but its content is not what nsdval expects.

    Parameters
    ----------
    path : str
        The offending file.
    problem : str
        What is wrong with it, in a few words.
    """


class LayoutError(_PathError, ValueError):
    """A root folder matches neither supported NSD layout."""

    @property
    def root(self):
        """The folder that was examined."""
        return self.path


class OutputError(_PathError, OSError):
    """An output location cannot be used."""


class MissingInputError(_PathError, FileNotFoundError):
    """A file or folder that the layout requires is absent.

    Parameters
    ----------
    path : str
        The path that does not exist.
    what : str
        What the path should have held.
    """

    @property
    def what(self):
        """What the missing path should have held."""
        return self.problem

    def __str__(self):
        return f"{self.path}: missing {self.problem}"


class ParameterError(NsdvalError, ValueError):
    """A notebook parameter or option value is not acceptable.

    Parameters
    ----------
    name : str
        The parameter name.
    problem : str
        What is wrong, naming the allowed values and the value received.
    """

    def __init__(self, name, problem):
        self.name = name
        self.problem = problem
        super().__init__(name, problem)

    def __str__(self):
        return f"parameter {self.name!r}: {self.problem}"


class DependencyError(NsdvalError, ImportError):
    """An optional package that a command needs cannot be imported.

    Parameters
    ----------
    package : str
        The import name, e.g. ``brainscore_vision``.
    problem : str
        Why the import failed.
    """

    def __init__(self, package, problem):
        self.package = package
        self.problem = problem
        super().__init__(package, problem)

    def __str__(self):
        return f"{self.package} cannot be imported: {self.problem}"


def one_line(exc):
    r"""An exception's message folded onto one line (library messages may span several).

    Examples
    --------
    >>> one_line(ValueError("first line\n  second line\n"))
    'first line second line'
    """
    return " ".join(str(exc).split()) or type(exc).__name__
