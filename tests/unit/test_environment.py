"""nsdval reads its environment in the command line only (``nsdval.cli.environment``).

A setting read deep inside (``os.environ.get`` in a worker) cannot be seen, tested or
documented where the command is defined; everything else gets values passed down. What
remains outside the command line hands the environment on whole to a kernel, which is not
reading configuration: each such module is named here with why.
"""

import ast
from pathlib import Path

import pytest

import nsdval

PACKAGE = Path(nsdval.__file__).resolve().parent
READER = "nsdval.cli.environment"  # the one module that reads environment variables
# modules that hand the environment on whole (to a kernel), and why
BUILDS_A_KERNELS_ENVIRONMENT = {
    "nsdval.run.kernel": "the provisioner gives a forked kernel this process's environment",
    "nsdval.run.kernel_imports": "keeps what the zygote's imports set, for the kernels",
    "nsdval.run.zygote": "a forked kernel's environment replaces the zygote's",
}


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def environment_uses(source):
    """``(line, kind)`` of each use of the environment: ``read`` (one variable) or ``whole``."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [(node.lineno, "read") for a in node.names if a.name in ("environ", "getenv")]
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
            continue
        if node.value.id != "os" or node.attr not in ("environ", "getenv", "environb"):
            continue
        found.append((node.lineno, _kind(node, parents)))
    return sorted(found)


def _kind(node, parents):
    parent = parents.get(node)
    if node.attr == "getenv":
        return "read"
    if isinstance(parent, ast.Subscript) and isinstance(parent.ctx, ast.Load):
        return "read"
    if isinstance(parent, ast.Attribute) and parent.attr == "get":
        return "read"
    if isinstance(parent, ast.Compare) and any(
        isinstance(o, (ast.In, ast.NotIn)) for o in parent.ops
    ):
        return "read"
    return "whole"


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_only_the_cli_reads_the_environment(path):
    module = module_name(path)
    if module == READER:
        return
    for line, kind in environment_uses(path.read_text()):
        assert kind == "whole", f"{module}:{line} reads an environment variable; read it in cli"
        assert module in BUILDS_A_KERNELS_ENVIRONMENT, f"{module}:{line} uses os.environ"


def test_the_checker_finds_the_cli_reading_the_environment():
    from nsdval.cli import environment

    uses = environment_uses(Path(environment.__file__).read_text())
    # it reads settings, and sets the BLAS thread counts the workers inherit (share_cores)
    assert {kind for _, kind in uses} == {"read", "whole"}


def test_the_checker_sees_every_kind_of_read():
    source = (
        "import os\nfrom os import getenv\n"
        "a = os.environ.get('A')\nb = os.environ['B']\nc = os.getenv('C')\nd = 'D' in os.environ\n"
        "e = dict(os.environ)\nos.environ['F'] = '1'\n"
    )
    assert environment_uses(source) == [
        (2, "read"),
        (3, "read"),
        (4, "read"),
        (5, "read"),
        (6, "read"),
        (7, "whole"),
        (8, "whole"),
    ]


def test_share_cores_gives_each_job_its_share_unless_the_user_chose(monkeypatch):
    from nsdval.cli import environment

    for name in environment.BLAS_THREADS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(environment.os, "cpu_count", lambda: 8)
    assert environment.share_cores(3) == 2
    assert {environment.os.environ[n] for n in environment.BLAS_THREADS_ENV} == {"2"}
    monkeypatch.setattr(environment.os, "cpu_count", lambda: 2)
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.delenv("MKL_NUM_THREADS")
    assert environment.share_cores(4) is None  # OPENBLAS_NUM_THREADS=2 stands
    assert environment.os.environ["OPENBLAS_NUM_THREADS"] == "2"
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    assert environment.share_cores(4) == 1  # never fewer than one thread
