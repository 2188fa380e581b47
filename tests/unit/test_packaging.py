"""The wheel lists every package of the source tree: a sub-package missing from pyproject.toml
would install a wheel that cannot import itself (CI's wheel smoke test finds it late)."""

from pathlib import Path

import tomllib

import nsdval

PACKAGE = Path(nsdval.__file__).resolve().parent
PYPROJECT = PACKAGE.parent / "pyproject.toml"


def source_packages():
    return {
        ".".join(init.parent.relative_to(PACKAGE.parent).parts)
        for init in PACKAGE.rglob("__init__.py")
    }


def test_every_source_package_is_in_the_wheel():
    listed = set(tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["packages"])
    missing = source_packages() - listed
    assert not missing, f"add to [tool.setuptools] packages: {sorted(missing)}"


def test_the_checker_finds_nested_packages():
    assert {"nsdval", "nsdval.data", "nsdval.data.volume"} <= source_packages()
