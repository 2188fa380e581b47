"""Exception classes raised by nsdval.

Every error derives from :class:`NsdvalError` and from the builtin it refines, so callers
may catch either. Errors carry their data in attributes and stay picklable, which the
process pool of the runner relies on.
"""

from __future__ import annotations


class NsdvalError(Exception):
    """Base class of all nsdval errors."""


class InputError(NsdvalError, ValueError):
    """A data file exists but its content is not what nsdval expects.

    Parameters
    ----------
    path : str
        The offending file.
    problem : str
        What is wrong with it, in a few words.
    """

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(path, problem)

    def __str__(self):
        return f"{self.path}: {self.problem}"


class MissingInputError(NsdvalError, FileNotFoundError):
    """A file or folder that the layout requires is absent.

    Parameters
    ----------
    path : str
        The path that does not exist.
    what : str
        What the path should have held.
    """

    def __init__(self, path, what):
        self.path = str(path)
        self.what = what
        super().__init__(path, what)

    def __str__(self):
        return f"{self.path}: missing {self.what}"


class LayoutError(NsdvalError, ValueError):
    """A root folder matches neither supported NSD layout."""

    def __init__(self, root, problem):
        self.root = str(root)
        self.problem = problem
        super().__init__(root, problem)

    def __str__(self):
        return f"{self.root}: {self.problem}"


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


class OutputError(NsdvalError, OSError):
    """An output location cannot be used."""

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(path, problem)

    def __str__(self):
        return f"{self.path}: {self.problem}"
