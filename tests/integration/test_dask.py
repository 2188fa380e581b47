"""``nsdval run --executor dask`` on a real dask.distributed LocalCluster.

The cluster's worker processes import this module to run the functions below.
"""

import json
import os
import time
from pathlib import Path

import pytest

from nsdval.cli import main
from nsdval.run import zygote_client
from nsdval.run.cluster import DaskExecutor
from nsdval.run.executors import Outcome

distributed = pytest.importorskip("distributed")

# Differ between two runs of the same tree by design: where they ran and how long they took.
RUN_SPECIFIC = {"created", "nsd_root", "seconds", "parameters", "fingerprint", "notebook", "html"}


def die_once(x, *, marker_dir):
    """Kill this worker process the first time item 1 runs; return 2x otherwise."""
    marker = Path(marker_dir) / f"died-{x}"
    if x == 1 and not marker.exists():
        marker.touch()
        os._exit(1)
    return 2 * x


def double_or_fail(x):
    if x == 2:
        raise ValueError("two is bad")
    return 2 * x


def warm_kernels(x):
    """Whether this worker's kernels would be forked from a zygote, while this task runs."""
    return zygote_client.warm_kernels()


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": ":0"},  # 8787 may be taken on a shared machine
    ) as cluster:
        yield cluster


def comparable(results):
    """A run's results.json without what must differ between two runs."""
    kept = {k: v for k, v in results.items() if k not in RUN_SPECIFIC}
    kept["reports"] = [
        {k: v for k, v in r.items() if k not in RUN_SPECIFIC} for r in results["reports"]
    ]
    return kept


@pytest.mark.slow
def test_a_dask_run_writes_the_same_results_as_a_local_run(tiny_tree, tmp_path, cluster, capsys):
    runs = {}
    for executor in ("local", "dask"):
        out = tmp_path / executor
        options = ["--jobs", "2"] if executor == "local" else ["--executor", "dask"]
        if executor == "dask":
            options += ["--scheduler", cluster.scheduler_address]
        started = time.perf_counter()
        code = main(["run", "--nsd-root", str(tiny_tree), "--out", str(out), *options])
        seconds = time.perf_counter() - started
        assert code == 0, executor
        runs[executor] = json.loads((out / "results.json").read_text())
        with capsys.disabled():
            print(f"\n{executor}: {seconds:.1f} s")
    printed = capsys.readouterr().out
    assert printed.count("[13/13]") == 2  # progress reached the last report on both
    assert comparable(runs["dask"]) == comparable(runs["local"])
    assert len(runs["dask"]["reports"]) == 13  # structure, 2 subjects x 4 regions, 4 rdm
    assert all(r["status"] == "pass" for r in runs["dask"]["reports"])
    for record in runs["dask"]["reports"]:  # the workers wrote the reports into OUT
        assert (tmp_path / "dask" / record["html"]).is_file()


def test_a_task_whose_worker_died_is_rescheduled(cluster, tmp_path):
    with DaskExecutor(cluster.scheduler_address) as executor:
        outcomes = list(executor.map_as_completed(die_once, range(4), marker_dir=tmp_path))
    assert (tmp_path / "died-1").exists()  # a worker did die running item 1
    assert sorted(outcomes) == [Outcome(x, 2 * x, None) for x in range(4)]


def test_a_task_that_raises_is_an_error_outcome_for_its_item(cluster):
    with DaskExecutor(cluster.scheduler_address, retries=0) as executor:
        found = {o.item: o for o in executor.map_as_completed(double_or_fail, range(4))}
    assert [found[x].result for x in (0, 1, 3)] == [0, 2, 6]
    assert isinstance(found[2].error, ValueError) and found[2].result is None


@pytest.mark.parametrize("warm", [False, True])
def test_the_tasks_get_the_runs_warm_kernels_setting(cluster, warm):
    with DaskExecutor(cluster.scheduler_address, warm_kernels=warm) as executor:
        found = {o.result for o in executor.map_as_completed(warm_kernels, range(4))}
    assert found == {warm}


def test_an_unreachable_scheduler_is_one_line_and_exit_2(tiny_tree, tmp_path, capsys):
    address = "tcp://127.0.0.1:9"  # discard port: nothing listens
    argv = ["run", "--nsd-root", str(tiny_tree), "--out", str(tmp_path / "out")]
    code = main([*argv, "--executor", "dask", "--scheduler", address])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and address in err, err
    assert not (tmp_path / "out").exists()  # refused before OUT is created


@pytest.mark.parametrize(
    "options",
    [["--scheduler", "tcp://127.0.0.1:8786"], ["--executor", "dask"]],
    ids=["scheduler-without-dask", "dask-without-scheduler"],
)
def test_mismatched_executor_options_are_a_usage_error(tiny_tree, tmp_path, capsys, options):
    code = main(["run", "--nsd-root", str(tiny_tree), "--out", str(tmp_path / "o"), *options])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--executor dask" in err, err
    assert not (tmp_path / "o").exists()


def test_a_local_scheduler_starts_and_stops_its_own_cluster():
    with DaskExecutor("local:1") as executor:
        assert len(executor.client.scheduler_info()["workers"]) == 1
        found = sorted(executor.map_as_completed(double_or_fail, [0, 1]))
    assert found == [Outcome(0, 0, None), Outcome(1, 2, None)]
    assert executor.client is None and executor.cluster is None
