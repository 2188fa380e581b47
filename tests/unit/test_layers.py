"""The package's floors: every import inside nsdval points down (or stays on its floor).

base (errors, atomic, resources) < data < analysis < pages, release < run < cli. synth, the
independent generator, may use only the base: a bug it shared with the validation chain
would be invisible.
"""

import ast
from pathlib import Path

import pytest

import nsdval

PACKAGE = Path(nsdval.__file__).resolve().parent
BASE = {"nsdval", "nsdval.errors", "nsdval.atomic", "nsdval.resources"}
RANK = {"base": 0, "data": 1, "synth": 1, "analysis": 2, "pages": 3, "release": 3, "run": 4}
RANK["cli"] = 5


def floor(module):
    """The floor of a dotted module name inside nsdval."""
    if module in BASE:
        return "base"
    part = module.split(".")[1]
    return "cli" if part in ("cli", "__main__") else part


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def nsdval_imports(path):
    """Every nsdval module imported anywhere in a file (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "nsdval"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "nsdval":
            found.add(node.module)
            # from nsdval.data import raw: the submodule is what is imported
            found |= {f"{node.module}.{a.name}" for a in node.names if a.name[0].islower()}
    return {m for m in found if _is_module(m)}


def _is_module(name):
    relative = Path(*name.split(".")[1:]) if "." in name else Path()
    target = PACKAGE / relative
    return name == "nsdval" or target.with_suffix(".py").is_file() or target.is_dir()


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_on_a_known_floor():
    unknown = {module_name(p) for p in MODULES if floor(module_name(p)) not in RANK}
    assert not unknown


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_imports_point_down(path):
    importer = floor(module_name(path))
    for module in nsdval_imports(path):
        imported = floor(module)
        assert RANK[imported] <= RANK[importer], f"{module_name(path)} imports {module}"
        if importer != imported:
            assert {importer, imported} != {"pages", "release"}, f"{module_name(path)}: {module}"
        if importer == "synth":
            assert imported in ("base", "synth"), f"synth imports {module}: not independent"


def test_the_checker_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from nsdval.run import runner\nfrom nsdval.data.layout import REGIONS\n")
    assert nsdval_imports(bad) == {"nsdval.run", "nsdval.run.runner", "nsdval.data.layout"}
    assert floor("nsdval.run.runner") == "run" and RANK["run"] > RANK["analysis"]
