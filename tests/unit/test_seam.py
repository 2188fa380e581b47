"""The data-space seam: only a space's implementation opens NSD's raw files or knows their axes.

Everything else (the chain, the checks, the reports, the runner) asks
:class:`nsdval.data.space.DataSpace`; the synthetic generator, independent by design, writes
the files itself.
"""

import ast
from pathlib import Path

import pytest

import nsdval

PACKAGE = Path(nsdval.__file__).resolve().parent
READERS = {"h5py", "nibabel"}
AXIS_WORDS = ("voxel_x", "voxel_y", "voxel_z", "argwhere", "vertex_index")
IMPLEMENTATIONS = ("data/volume/", "data/surface/")
INDEPENDENT = ("synth/",)


def inside(path, folders):
    relative = path.relative_to(PACKAGE).as_posix()
    return any(relative.startswith(folder) for folder in folders)


def outside_the_seam():
    return [
        p for p in sorted(PACKAGE.rglob("*.py")) if not inside(p, IMPLEMENTATIONS + INDEPENDENT)
    ]


def imported_roots(path):
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def code_strings_and_names(path):
    """Identifiers, attributes and string constants of a module, docstrings excluded."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                found.add(node.value)
        elif isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
    return found


@pytest.mark.parametrize(
    "path", outside_the_seam(), ids=lambda p: p.relative_to(PACKAGE).as_posix()
)
def test_no_module_outside_a_space_opens_raw_files_or_knows_axes(path):
    assert not imported_roots(path) & READERS, f"{path.name} imports a raw-file reader"
    words = code_strings_and_names(path)
    assert not [w for w in words if w in AXIS_WORDS], f"{path.name} knows the volume's axes"


def test_the_checker_sees_a_reader_and_an_axis_name(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('"""voxel_x in a docstring is fine."""\nimport h5py\nx = a["voxel_y"]\n')
    assert "h5py" in imported_roots(bad)
    assert "voxel_y" in code_strings_and_names(bad)
    assert "voxel_x in a docstring is fine." not in code_strings_and_names(bad)
