"""The pinned kernel manager and its warm kernels forked from a zygote process."""

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import papermill
import pytest
from jupyter_client.provisioning import LocalProvisioner
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from nsdval.run import zygote, zygote_client
from nsdval.run.kernel import KERNEL_NAME, ThisPythonKernelManager, ZygoteProvisioner


def make_notebook(path, *sources):
    """Write a notebook: a parameters cell, then one code cell per source."""
    cells = [nbformat.v4.new_code_cell("label = 'none'", metadata={"tags": ["parameters"]})]
    cells += [nbformat.v4.new_code_cell(textwrap.dedent(source)) for source in sources]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "language": "python",
        "display_name": "Python 3",
    }
    nbformat.write(notebook, path)
    return path


def execute(path, out, **kwargs):
    """Execute a notebook the way the runner does; return the executed notebook."""
    papermill.execute_notebook(
        str(path),
        str(out),
        kernel_name=KERNEL_NAME,
        language="python",
        progress_bar=False,
        cwd=str(Path(out).parent),
        kernel_manager_class=ThisPythonKernelManager,
        **kwargs,
    )
    return nbformat.read(out, as_version=4)


def stdout_of(notebook):
    """The printed text of each code cell after the parameters cells."""
    texts = []
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code" or {"parameters", "injected-parameters"} & set(tags):
            continue
        texts.append("".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream"))
    return texts


def zygote_pid():
    client = zygote_client._zygote["client"]
    return client.process.pid if client is not None and client.alive() else None


@pytest.fixture
def warm(isolated_zygote):
    isolated_zygote["warm"] = True


@pytest.fixture
def isolated_zygote(monkeypatch):
    """A zygote state of its own, stopped afterwards (the process-wide one is untouched)."""
    state = {"client": None, "starts": 0, "pid": os.getpid(), "warned": False, "warm": True}
    monkeypatch.setattr(zygote_client, "_zygote", state)
    yield state
    if state["client"] is not None:
        state["client"].close()


PROBE = """
import os
print(os.getpid(), os.getppid())
"""


def kernel_pids(notebook):
    """(pid, parent pid) of the kernel that executed a notebook made with PROBE first."""
    pid, ppid = stdout_of(notebook)[0].split()
    return int(pid), int(ppid)


# ---------------------------------------------------------------- fast unit tests


def test_warm_kernels_are_on_unless_turned_off(isolated_zygote):
    assert zygote_client.warm_kernels()
    with zygote_client.warm_kernels_setting(False):
        assert not zygote_client.warm_kernels()
    assert zygote_client.warm_kernels()  # the with block's setting is undone
    assert zygote_client.set_warm_kernels(False) is True and not zygote_client.warm_kernels()


@pytest.mark.parametrize(
    ("enabled", "provisioner"), [(False, LocalProvisioner), (True, ZygoteProvisioner)]
)
def test_the_provisioner_follows_the_setting(monkeypatch, enabled, provisioner):
    monkeypatch.setitem(zygote_client._zygote, "warm", enabled)
    manager = ThisPythonKernelManager()
    # a thread of its own: another test's browser may keep an event loop running in this one
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, manager._async_pre_start_kernel()).result()
    try:
        assert type(manager.provisioner) is provisioner
        assert manager.kernel_id
    finally:
        manager.cleanup_connection_file()


def test_pid_running_sees_zombies_and_reaped_children():
    assert zygote_client.pid_running(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while zygote_client.pid_running(child.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not zygote_client.pid_running(child.pid)  # exited, not yet reaped: a zombie
    child.wait()
    assert not zygote_client.pid_running(child.pid)


def test_returncode_follows_popen():
    assert zygote.returncode(0) == 0
    assert zygote.returncode(3 << 8) == 3
    assert zygote.returncode(signal.SIGKILL) == -signal.SIGKILL


def test_a_zygote_that_cannot_start_raises(tmp_path):
    client = zygote_client.ZygoteClient()
    client.path = str(tmp_path / "missing" / "zygote.sock")  # cannot bind there
    with pytest.raises(zygote_client.ZygoteError, match="did not start"):
        client.start(timeout=60)
    assert client.process.poll() is not None


# ---------------------------------------------------------------- notebooks


@pytest.mark.slow
def test_warm_and_plain_kernels_give_the_same_outputs(tmp_path, isolated_zygote):
    source = make_notebook(
        tmp_path / "nb.ipynb",
        """
        %matplotlib inline
        import os, sys
        import numpy as np
        import matplotlib
        import matplotlib.pyplot as plt
        from nsdval.analysis import checks
        print(label, np.arange(4).sum(), matplotlib.get_backend(), "" in sys.path)
        print(np.random.default_rng(0).integers(100, size=3), os.path.exists("out.ipynb"))
        print(sys.path, sorted(os.environ), sys.argv[1:2])
        print((np.ones((400, 400)) @ np.ones((400, 400))).sum())  # BLAS threads after fork
        """,
        "plt.plot([1, 2])",
        "1 / 0",
    )
    outputs = {}
    for value in ("0", "1"):
        isolated_zygote["warm"] = value == "1"
        out = tmp_path / value / "out.ipynb"
        out.parent.mkdir()
        with pytest.raises(papermill.PapermillExecutionError, match="ZeroDivisionError"):
            execute(source, out, parameters={"label": "hello"})
        notebook = nbformat.read(out, as_version=4)
        types = [[o.output_type for o in cell.get("outputs", [])] for cell in notebook.cells]
        outputs[value] = (stdout_of(notebook), types)
    assert outputs["0"] == outputs["1"]
    assert outputs["1"][0][0].startswith("hello 6 inline True\n")
    assert ["display_data"] in [t[-1:] for t in outputs["1"][1]]
    assert zygote_pid() is not None  # the second run was warm


@pytest.mark.slow
def test_notebooks_do_not_share_state(tmp_path, warm, isolated_zygote):
    first = make_notebook(tmp_path / "a.ipynb", PROBE, "leaked = 42\nimport json")
    second = make_notebook(
        tmp_path / "b.ipynb",
        PROBE,
        "print('leaked' in globals(), 'json' in globals())",
    )
    a = execute(first, tmp_path / "a.out.ipynb")
    b = execute(second, tmp_path / "b.out.ipynb")
    pid_a, ppid_a = kernel_pids(a)
    pid_b, ppid_b = kernel_pids(b)
    assert pid_a != pid_b
    assert ppid_a == ppid_b == zygote_pid()  # both forked from the zygote
    assert stdout_of(b)[1].split() == ["False", "False"]


@pytest.mark.slow
def test_forked_kernels_draw_different_random_numbers(tmp_path, warm, isolated_zygote):
    source = make_notebook(tmp_path / "r.ipynb", "import numpy as np\nprint(np.random.rand())")
    first = stdout_of(execute(source, tmp_path / "r1.ipynb"))[0]
    second = stdout_of(execute(source, tmp_path / "r2.ipynb"))[0]
    assert first != second


@pytest.mark.slow
def test_a_kernel_that_kills_itself_is_reported_dead(tmp_path, warm, isolated_zygote):
    source = make_notebook(tmp_path / "die.ipynb", "import os, signal\nos.kill(os.getpid(), 9)")
    started = time.monotonic()
    with pytest.raises(DeadKernelError):
        execute(source, tmp_path / "die.out.ipynb")
    assert time.monotonic() - started < 30
    assert zygote_client._zygote["client"] is not None  # it was a forked kernel


@pytest.mark.slow
def test_a_cell_timeout_stops_the_kernel(tmp_path, warm, isolated_zygote):
    source = make_notebook(tmp_path / "slow.ipynb", PROBE, "import time\ntime.sleep(120)")
    started = time.monotonic()
    with pytest.raises(CellTimeoutError):
        execute(source, tmp_path / "slow.out.ipynb", execution_timeout=2)
    assert time.monotonic() - started < 30
    pid, _ = kernel_pids(nbformat.read(tmp_path / "slow.out.ipynb", as_version=4))
    assert wait_gone(pid)


@pytest.mark.slow
def test_the_plain_launch_is_the_fallback(tmp_path, monkeypatch, warm, isolated_zygote, caplog):
    def refuse(self):
        raise zygote_client.ZygoteError("no zygote today")

    monkeypatch.setattr(zygote_client.ZygoteClient, "spawn", refuse)
    source = make_notebook(tmp_path / "nb.ipynb", PROBE)
    with caplog.at_level(logging.WARNING, logger="nsdval.run.zygote_client"):
        first = execute(source, tmp_path / "1.ipynb")
        second = execute(source, tmp_path / "2.ipynb")
    assert kernel_pids(first)[1] == kernel_pids(second)[1] == os.getpid()  # Popen children
    warnings = [r for r in caplog.records if "warm kernels unavailable" in r.getMessage()]
    assert len(warnings) == 1


@pytest.mark.slow
def test_no_zombies_are_left(tmp_path, warm, isolated_zygote):
    source = make_notebook(tmp_path / "nb.ipynb", PROBE)
    pids = [kernel_pids(execute(source, tmp_path / f"{i}.ipynb"))[0] for i in range(4)]
    assert all(wait_gone(pid) for pid in pids)
    assert children_of(zygote_pid()) == []
    assert [pid for pid, state in children_of(os.getpid()) if state == "Z"] == []


def children_of(parent):
    """(pid, state) of the processes whose parent is ``parent``, read from /proc."""
    children = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except (OSError, ValueError):
            continue
        if int(fields[1]) == parent:
            children.append((int(entry.name), fields[0]))
    return children


OWNER = """
import asyncio, os, sys
from nsdval.run import kernel, zygote_client

async def main():
    manager = kernel.ThisPythonKernelManager()
    await manager.start_kernel()
    print(zygote_client._zygote["client"].process.pid, manager.provisioner.pid, flush=True)
    print(manager._socket_dir, flush=True)
    sys.stdin.readline()
    os._exit(0)  # no atexit: the zygote must notice on its own

asyncio.run(main())
"""


def start_script(source, *args, cwd):
    """Run a Python ``source`` (warm kernels are on by default); stdin and stdout are pipes."""
    return subprocess.Popen(
        [sys.executable, "-c", source, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=cwd,
        text=True,
    )


@pytest.mark.slow
def test_the_zygote_and_its_kernels_exit_with_their_owner(tmp_path):
    owner = start_script(OWNER, cwd=tmp_path)
    try:
        zygote_pid, kernel_pid = map(int, owner.stdout.readline().split())
        sockets = Path(owner.stdout.readline().strip())
        assert zygote_client.pid_running(zygote_pid) and zygote_client.pid_running(kernel_pid)
        assert sockets.is_dir()
        owner.stdin.close()
        owner.wait(timeout=30)
        assert wait_gone(zygote_pid) and wait_gone(kernel_pid)
        assert wait_removed(sockets)  # the owner died without cleaning up; the zygote did
    finally:
        owner.kill()
        owner.wait()


def wait_until(done, timeout=15):
    """Whether ``done()`` becomes true within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wait_removed(path, timeout=15):
    """Whether ``path`` disappears within ``timeout`` seconds."""
    return wait_until(lambda: not path.exists(), timeout)


def wait_gone(pid, timeout=15):
    """Whether ``pid`` exits (or becomes a zombie) within ``timeout`` seconds."""
    return wait_until(lambda: not zygote_client.pid_running(pid), timeout)


LAZY_IMPORTS = """
import sys
import numpy as np
import xarray as xr
before = set(sys.modules)
xr.DataArray(np.arange(3.0), dims="x").astype("float32")  # xarray looks up its chunk managers
print(sorted({m.split(".")[0] for m in set(sys.modules) - before}))
"""


@pytest.mark.slow
def test_warm_kernels_find_the_lazy_lookups_done(tmp_path, isolated_zygote):
    source = make_notebook(tmp_path / "lazy.ipynb", LAZY_IMPORTS)
    imported = {}
    for value in ("0", "1"):
        isolated_zygote["warm"] = value == "1"
        imported[value] = stdout_of(execute(source, tmp_path / f"{value}.ipynb"))[0].strip()
    assert "dask" in imported["0"]  # a plain kernel pays the lookup in its first decode
    assert imported["1"] == "[]"


@pytest.mark.slow
def test_a_prestarted_zygote_is_the_one_used(tmp_path, warm, isolated_zygote):
    zygote_client.prestart_zygote()
    prestarted = isolated_zygote["client"]
    assert prestarted is not None and not prestarted.ready  # spawned, not waited for
    zygote_client.prestart_zygote()  # a second call starts nothing
    source = make_notebook(tmp_path / "nb.ipynb", PROBE)
    _, ppid = kernel_pids(execute(source, tmp_path / "out.ipynb"))
    assert ppid == prestarted.pid and isolated_zygote["starts"] == 1


ATTACHED = """
import asyncio, os, sys
from nsdval.run import kernel, zygote_client

async def main():
    zygote_client.attach_zygote(zygote_client.ZygoteAddress(int(sys.argv[1]), sys.argv[2]))
    manager = kernel.ThisPythonKernelManager()
    await manager.start_kernel()
    print(manager.provisioner.pid, flush=True)
    sys.stdin.readline()
    os._exit(0)  # dies with its kernel running

asyncio.run(main())
"""


@pytest.mark.slow
def test_processes_share_a_zygote_and_a_dead_clients_kernel_is_killed(
    tmp_path, warm, isolated_zygote
):
    address = zygote_client.zygote_address()
    client = start_script(ATTACHED, str(address.pid), address.path, cwd=tmp_path)
    try:
        kernel_pid = int(client.stdout.readline())
        assert [pid for pid, _ in children_of(address.pid)] == [kernel_pid]  # forked by ours
        client.stdin.close()
        client.wait(timeout=30)
        assert wait_gone(kernel_pid)  # the zygote saw the connection close
        assert zygote_client.pid_running(address.pid)  # and goes on serving
    finally:
        client.kill()
        client.wait()


@pytest.mark.slow
@pytest.mark.parametrize("value", ["0", "1"])
def test_shutting_a_kernel_down_removes_its_socket_folder(isolated_zygote, value):
    isolated_zygote["warm"] = value == "1"

    async def start_and_stop():
        manager = ThisPythonKernelManager()
        await manager.start_kernel()
        folder = Path(manager._socket_dir)
        existed = folder.is_dir()
        await manager.shutdown_kernel(now=True)
        await manager.cleanup_resources()  # as nbclient calls it after the shutdown
        return manager, existed, folder.exists()

    with ThreadPoolExecutor(1) as thread:  # a loop of its own, whatever ran before
        manager, existed, exists = thread.submit(asyncio.run, start_and_stop()).result()
    assert existed and not exists  # gone while the manager is alive: no finalizer needed
