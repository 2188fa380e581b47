"""LocalExecutor: in-process and pooled runs, killed workers, Ctrl-C; the runner's error records.

The spawned workers import this module: nsdval.run.runner is imported inside the tests that
use it, so each worker starts fast.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nsdval.errors import ParameterError
from nsdval.run import cluster, executors, zygote_client
from nsdval.run.executors import Outcome
from nsdval.run.pool import LocalExecutor, WorkerLostError


# --- functions run in the workers (module level: the spawned workers import them) --------
def double(x):
    return 2 * x


def double_or_fail(x):
    if x == 2:
        raise ValueError("two is bad")
    return 2 * x


def die_once(x, *, marker_dir):
    """Kill this worker process the first time item 1 runs; return 2x otherwise."""
    marker = Path(marker_dir) / f"died-{x}"
    if x == 1 and not marker.exists():
        marker.touch()
        os._exit(1)
    return 2 * x


def always_die(x, *, marker_dir):
    """Item 1 kills its worker every time (and counts the attempts); others return 2x."""
    if x == 1:
        with (Path(marker_dir) / "attempts").open("a") as f:
            f.write("x")
        os._exit(1)
    time.sleep(0.5)  # the others still run while item 1 kills workers around them
    return 2 * x


def pid_after(x, *, seconds=0.2):
    time.sleep(seconds)  # long enough for both workers to take an item
    return os.getpid()


def record_pid_and_sleep(x, *, pid_dir):
    (Path(pid_dir) / f"{os.getpid()}.pid").touch()
    time.sleep(120)
    return x


def kernel_setting(x):
    """How this process starts kernels: warm or not, and the zygote it is attached to."""
    client = zygote_client._zygote["client"]
    return zygote_client.warm_kernels(), client.path if client is not None else None


def results(outcomes):
    return {o.item: (o.result, o.error) for o in outcomes}


# --- in process ----------------------------------------------------------------------------
def test_one_job_runs_in_process_in_order_and_reports_exceptions():
    outcomes = list(LocalExecutor(1).map_as_completed(double_or_fail, [1, 2, 3]))
    assert [o.item for o in outcomes] == [1, 2, 3]
    assert outcomes[0] == Outcome(1, 2, None) and outcomes[2] == Outcome(3, 6, None)
    assert isinstance(outcomes[1].error, ValueError) and outcomes[1].result is None


def test_jobs_in_process_have_the_executors_kernel_setting_for_their_call_only():
    before = zygote_client.warm_kernels()
    found = list(LocalExecutor(1, warm_kernels=not before).map_as_completed(kernel_setting, [0]))
    assert found[0].result[0] is (not before)
    assert zygote_client.warm_kernels() is before


# --- the pool ------------------------------------------------------------------------------
def test_the_pool_returns_every_result_and_each_exception_for_its_item():
    found = results(LocalExecutor(2).map_as_completed(double_or_fail, range(5)))
    assert {k: v[0] for k, v in found.items() if k != 2} == {0: 0, 1: 2, 3: 6, 4: 8}
    assert isinstance(found[2][1], ValueError)


def test_a_job_whose_worker_died_is_retried_in_a_fresh_pool(tmp_path):
    found = results(LocalExecutor(2).map_as_completed(die_once, range(4), marker_dir=tmp_path))
    assert (tmp_path / "died-1").exists()  # the worker did die
    assert found == {x: (2 * x, None) for x in range(4)}


def test_a_job_that_always_kills_its_worker_errors_and_the_others_complete(tmp_path):
    executor = LocalExecutor(2, retries=2)
    found = results(executor.map_as_completed(always_die, range(4), marker_dir=tmp_path))
    assert {k: v for k, v in found.items() if k != 1} == {0: (0, None), 2: (4, None), 3: (6, None)}
    error = found[1][1]
    assert isinstance(error, WorkerLostError) and error.attempts == 3
    assert "died in each of 3 attempts" in str(error)
    assert (tmp_path / "attempts").read_text() == "xxx"  # once with the others, twice alone


def test_the_workers_serve_every_call_until_the_executor_exits(tmp_path):
    with LocalExecutor(2) as executor:
        first = {o.result for o in executor.map_as_completed(pid_after, range(4))}
        second = {o.result for o in executor.map_as_completed(pid_after, range(4))}
        assert len(first) == 2 and second == first  # the same two workers, not a new pool
        workers = list(executor._pool._processes.values())
    assert all(not p.is_alive() for p in workers)  # shut down at exit


def test_a_pool_that_broke_is_replaced_for_the_next_call(tmp_path):
    with LocalExecutor(2) as executor:
        before = {o.result for o in executor.map_as_completed(pid_after, range(2))}
        found = results(executor.map_as_completed(die_once, range(4), marker_dir=tmp_path))
        after = {o.result for o in executor.map_as_completed(pid_after, range(2))}
    assert found == {x: (2 * x, None) for x in range(4)}
    assert len(after) == 2 and not after & before  # fresh workers after the death


# --- the pool owns the zygote its workers fork their kernels from ------------------------
FAKE_ZYGOTE = zygote_client.ZygoteAddress(1, "/nonexistent/zygote.sock")


@pytest.fixture
def zygote_calls(monkeypatch):
    """Record the pool's calls to start and to publish this process's zygote (none starts)."""
    calls = []
    monkeypatch.setattr(zygote_client, "prestart_zygote", lambda: calls.append("prestart"))

    def address():
        calls.append("address")
        return FAKE_ZYGOTE

    monkeypatch.setattr(zygote_client, "zygote_address", address)
    return calls


@pytest.mark.parametrize("warm", [True, False])
def test_the_pool_starts_the_zygote_only_with_warm_kernels(zygote_calls, warm):
    with LocalExecutor(2, warm_kernels=warm) as executor:
        assert zygote_calls == (["prestart"] if warm else [])
        executor.warm_up()  # starting it again is the zygote client's to refuse
        found = {o.result for o in executor.map_as_completed(kernel_setting, range(2))}
    assert zygote_calls == (["prestart", "prestart", "address"] if warm else [])
    assert found == ({(True, FAKE_ZYGOTE.path)} if warm else {(False, None)})


INTERRUPTED_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_executors import record_pid_and_sleep
from nsdval.run.pool import LocalExecutor

if __name__ == "__main__":
    with LocalExecutor(2) as executor:
        for outcome in executor.map_as_completed(record_pid_and_sleep, range(4), pid_dir={pids!r}):
            pass
"""


def test_ctrl_c_terminates_the_pool_promptly_and_reraises(tmp_path):
    script = tmp_path / "interrupted.py"
    pids = tmp_path / "pids"
    pids.mkdir()
    tests = str(Path(__file__).resolve().parent)
    script.write_text(textwrap.dedent(INTERRUPTED_SCRIPT.format(tests=tests, pids=str(pids))))
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        # a shell running CI in the background starts it with SIGINT ignored; undo that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        workers = _wait_for(lambda: len(list(pids.iterdir())) == 2 and list(pids.iterdir()), 90)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert time.monotonic() - started < 15
    assert process.returncode != 0 and "KeyboardInterrupt" in stderr
    worker_pids = [int(p.stem) for p in workers]
    assert _wait_for(lambda: not any(_alive(pid) for pid in worker_pids), 10)


def _wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {seconds} s")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --- choosing an executor ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("executor", "scheduler", "message"),
    [
        ("dask", None, "required with --executor dask"),
        ("local", "tcp://127.0.0.1:8786", "only applies with --executor dask"),
        ("slurm", None, "expected one of local, dask"),
    ],
)
def test_check_choice_refuses_mismatched_options(executor, scheduler, message):
    with pytest.raises(ParameterError, match=message):
        executors.check_choice(executor, scheduler)


def test_the_runner_picks_the_executor_the_config_asks_for(tmp_path):
    from nsdval.run import plan, runner

    config = plan.RunConfig(nsd_root=tmp_path, out=tmp_path, jobs=3)
    local = runner.executor_for(config)
    assert isinstance(local, LocalExecutor) and local.jobs == 3 and local.warm_kernels
    dask_config = plan.RunConfig(
        nsd_root=tmp_path, out=tmp_path, executor="dask", scheduler="local:2", warm_kernels=False
    )
    dask = runner.executor_for(dask_config)
    assert dask.address == "local:2" and dask.client is None  # not connected yet
    assert dask.warm_kernels is False


def test_a_missing_distributed_is_a_dependency_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # what an absent package looks like
    with pytest.raises(cluster.DependencyError, match=r"nsdval\[dask\]"):
        cluster.import_distributed()


# --- the runner: a report whose worker keeps dying gets an error record -----------------
def _template(path, body):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("kill = False\nresults_path = ''")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell(body)]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "language": "python",
        "display_name": "Python 3",
    }
    nbformat.write(notebook, str(path))


# the kernel kills the process that launched it (jupyter_client's JPY_PARENT_PID, set for
# plain and warm kernels alike): the pool worker running the report
KILL_POOL_WORKER = """\
import os, signal
if kill:
    os.kill(int(os.environ["JPY_PARENT_PID"]), signal.SIGKILL)
"""


@pytest.mark.slow
def test_execute_jobs_records_a_report_that_kills_its_worker_as_error(tmp_path):
    from nsdval.run import plan, runner

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    # killing the pool worker is a worker death mid-report
    _template(notebooks / "killer.ipynb", KILL_POOL_WORKER)
    jobs = [
        plan.Job(f"job{i}", "killer", None, None, {"kill": i == 1}, f"job{i}") for i in range(2)
    ]
    config = plan.RunConfig(nsd_root=tmp_path, out=tmp_path, jobs=2, notebooks_dir=notebooks)
    seen = []
    records = runner.execute_jobs(
        jobs,
        out=tmp_path / "out",
        config=config,
        on_report=lambda record, done, total, unchanged: seen.append((record.id, done, total)),
    )
    assert [r.id for r in records] == ["job0", "job1"]
    assert records[1].status == "error"
    assert records[1].error["ename"] == "WorkerLostError"
    assert records[0].error["ename"] != "WorkerLostError"  # it ran (and recorded no checks)
    assert sorted(rid for rid, _, _ in seen) == ["job0", "job1"]
    assert [(done, total) for _, done, total in seen] == [(1, 2), (2, 2)]
    assert (tmp_path / "out" / "job1" / "killer.html").is_file()
    assert (tmp_path / "out" / "job1" / "results.json").is_file()


PARENTS = """\
import os, time
time.sleep(0.5)  # both workers hold a kernel at once
print(os.getppid(), os.environ["JPY_PARENT_PID"], file=open("parents.txt", "w"))
"""


@pytest.mark.slow
def test_the_workers_fork_their_kernels_from_the_runs_zygote(tmp_path):
    from nsdval.run import plan, runner, zygote_client

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _template(notebooks / "parents.ipynb", PARENTS)
    jobs = [plan.Job(f"job{i}", "parents", None, None, {}, f"job{i}") for i in range(4)]
    config = plan.RunConfig(nsd_root=tmp_path, out=tmp_path, jobs=2, notebooks_dir=notebooks)
    records = runner.execute_jobs(jobs, out=tmp_path / "out", config=config)
    assert [r.error["ename"] for r in records] == ["NoResults"] * 4  # ran to the end
    out = tmp_path / "out"
    parents = [(out / job.rel_dir / "parents.txt").read_text().split() for job in jobs]
    ours = zygote_client.get_zygote().pid  # this process's zygote, started for the run
    assert {int(zygote) for zygote, _ in parents} == {ours}
    launchers = {int(worker) for _, worker in parents}
    assert len(launchers) == 2 and os.getpid() not in launchers  # both pool workers


UNGUARDED_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_executors import double
from nsdval.run.pool import LocalExecutor

# no `if __name__ == "__main__":` guard: each worker imports this module and starts a pool
print(sorted({{str(o.error) for o in LocalExecutor(2).map_as_completed(double, range(2))}}))
"""


@pytest.mark.slow
def test_an_unguarded_script_is_told_why_no_worker_started(tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED_SCRIPT.format(tests=str(Path(__file__).resolve().parent)))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    last = done.stdout.strip().splitlines()[-1]
    assert "no worker process could start the job" in last
    assert "if __name__ == '__main__':" in last
