"""Executing one report: papermill's partial notebook, written at its start and end."""

import subprocess
import sys

import nbformat
import papermill
import pytest

from nsdval.run import execution
from nsdval.run.plan import Job


def make_notebook(path, sources):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "language": "python"}
    nbformat.write(notebook, path)
    return path


def execute(source, out):
    """Run ``source`` as a report's template, as the runner does; the error record or None."""
    job = Job(source.stem, source.stem, None, None, {}, ".")
    return execution.run_papermill(job, source.parent, out, {}, None, out.parent)


@pytest.fixture
def count_writes(monkeypatch):
    """Count papermill's writes of the output notebook."""
    writes = []
    real = papermill.engines.write_ipynb

    def counting(nb, path):
        writes.append(path)
        return real(nb, path)

    monkeypatch.setattr(papermill.engines, "write_ipynb", counting)
    return writes


@pytest.mark.slow
@pytest.mark.parametrize(("save_every", "expected"), [(0.0, 2 + 2 * 12), (60.0, 2)])
def test_the_partial_notebook_is_written_at_its_start_and_end(
    tmp_path, monkeypatch, count_writes, save_every, expected
):
    monkeypatch.setattr(execution, "SAVE_EVERY", save_every)
    source = make_notebook(tmp_path / "nb.ipynb", [f"print({i})" for i in range(12)])
    assert execute(source, tmp_path / "out.ipynb") is None
    assert len(count_writes) == expected  # papermill alone writes at every cell's start and end
    done = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    # a busy kernel may send one print as several stream messages
    printed = ["".join(o["text"] for o in c.outputs) for c in done.cells]
    assert printed == [f"{i}\n" for i in range(12)]


@pytest.mark.slow
def test_a_dead_kernel_leaves_its_final_state_on_disk(tmp_path, monkeypatch, count_writes):
    monkeypatch.setattr(execution, "SAVE_EVERY", 60.0)
    sources = ["print('before')", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"]
    source = make_notebook(tmp_path / "die.ipynb", sources)
    assert execute(source, tmp_path / "out.ipynb")["ename"] == "DeadKernelError"
    partial = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert partial.cells[0].outputs[0]["text"] == "before\n"
    assert partial.cells[1].metadata.papermill["start_time"] is not None  # where it died
    located = execution.locate_failing_cell({"cell_index": None}, partial)
    assert located["cell_index"] == 1 and "SIGKILL" in located["cell_source"]


ENGINES_AFTER_IMPORT = """
from papermill.engines import papermill_engines
before = set(papermill_engines._engines)
import nsdval.cli, nsdval.run.runner, nsdval.run.execution
print(sorted(set(papermill_engines._engines) - before))
nsdval.run.execution.register_engine()
nsdval.run.execution.register_engine()
print(papermill_engines.get_engine("nsdval") is nsdval.run.execution.ThrottledEngine)
"""


def test_importing_nsdval_registers_no_papermill_engine():
    found = subprocess.run(
        [sys.executable, "-c", ENGINES_AFTER_IMPORT], capture_output=True, text=True, check=True
    )
    assert found.stdout.split("\n")[:2] == ["[]", "True"]  # registered only when asked, twice
