"""An interrupted run leaves the previous run's files intact, and the next run completes it."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from nsdval.cli import main

pytestmark = pytest.mark.slow

REGIONS = "V1,V2,V4,IT"
VALIDATIONS = {f"subj01 {region} validation" for region in REGIONS.split(",")}


def progress_scope(line):
    """``"subj01 V4 validation"`` for an executed report's progress line, else ``None``."""
    if not line.startswith("[") or line.rstrip().endswith("unchanged"):
        return None
    words = line.split()[2:]
    at = next(i for i, w in enumerate(words) if w.startswith("assembly_"))
    return " ".join([*words[:at], words[at].removeprefix("assembly_")])


def default_sigint():
    """Give the child the terminal's default SIGINT handling.

    A shell running a script in the background (as CI may) starts it with SIGINT ignored,
    which a child inherits and Python then keeps: Ctrl-C would not reach it at all.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_after(args, executed, *, timeout=240):
    """Run nsdval in its own process group; Ctrl-C the group after ``executed`` reports.

    Returns the exit code, the executed reports and stderr.
    """
    command = [sys.executable, "-m", "nsdval", *args]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=default_sigint,
    )
    done, deadline = [], time.monotonic() + timeout
    for line in proc.stdout:
        scope = progress_scope(line)
        if scope:
            done.append(scope)
        if len(done) == executed:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
            break
        assert time.monotonic() < deadline, "the run never reached the interruption point"
    rest, err = proc.communicate(timeout=120)
    done += [s for s in map(progress_scope, rest.splitlines()) if s]
    return proc.returncode, done, err


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_keeps_the_previous_index_and_the_next_run_completes(
    tiny_tree, tmp_path, capsys, jobs
):
    tree, out = shutil.copytree(tiny_tree, tmp_path / "tree"), tmp_path / "out"
    base = ["run", "--nsd-root", str(tree), "--out", str(out), "--subjects", "1"]
    base += ["--regions", REGIONS, "--jobs", jobs]
    assert main(base) == 0
    capsys.readouterr()
    before = {name: (out / name).read_bytes() for name in ("results.json", "index.html")}

    changed = [*base, "-p", "tolerance=2e-5"]  # every validation report is due again
    code, done, err = interrupt_after(changed, executed=2)
    assert code == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("nsdval: interrupted")
    assert 2 <= len(done) < len(VALIDATIONS) and set(done) <= VALIDATIONS
    for name, content in before.items():
        assert (out / name).read_bytes() == content, f"{name} changed by the interrupted run"
    assert json.loads(before["results.json"])["status"] == "pass"

    assert main(changed) == 0
    again = {s for s in map(progress_scope, capsys.readouterr().out.splitlines()) if s}
    assert again == VALIDATIONS - set(done)
    results = json.loads((out / "results.json").read_text())
    validations = [r for r in results["reports"] if r["template"] == "assembly_validation"]
    assert len(validations) == len(VALIDATIONS)
    assert all(r["parameters"]["tolerance"] == 2e-5 for r in validations)
    assert all(r["status"] == "pass" for r in results["reports"])
    assert not list(out.glob("**/.*.partial.ipynb"))
