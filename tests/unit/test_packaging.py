"""The wheel lists every package of the source tree: a sub-package missing from pyproject.toml
would install a wheel that cannot import itself (CI's wheel smoke test finds it late)."""

from fnmatch import fnmatch
from pathlib import Path

import tomllib

import nsdval
from nsdval import resources
from nsdval.run import execution, plan

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


def test_every_template_notebook_ships_in_the_wheel():
    globs = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]
    notebooks = sorted(p.name for p in resources.shipped("notebooks").iterdir() if p.is_file())
    assert {"assembly_structure.ipynb", "assembly_validation.ipynb", "benchmark_rdm.ipynb"} <= set(
        notebooks
    )
    unshipped = [n for n in notebooks if not any(fnmatch(n, g) for g in globs["nsdval.notebooks"])]
    assert not unshipped, f"add to [tool.setuptools.package-data] nsdval.notebooks: {unshipped}"


def test_the_rdm_template_is_found_and_declares_its_parameters():
    path = execution.template_path(resources.shipped("notebooks"), "benchmark_rdm")
    assert plan.declared_parameters(path) == {
        "nsd_root": "str",
        "region": "str",
        "variant": "str",
        "space": "str",
        "tolerance": "float",
        "brainscore_live": "bool",
        "assemblies_dir": "str",
        "brainscore_dir": "str",
        "benchmark_dir": "str",
        "results_path": "str",
    }
