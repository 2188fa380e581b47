"""Executing the report notebooks: nsdval's runner vs the papermill and nbconvert command lines.

nsdval executes each notebook in-process with papermill's Python API, in ``--jobs`` worker
processes, and renders the HTML with one nbconvert exporter per process. The baseline runs
the same notebooks the way the seed's workflow would: one ``papermill`` and one
``jupyter nbconvert --to html`` command per notebook, one after the other, with the same
parameters (``-p``) and the same extraction cache filled beforehand.

Two measurements:

1. per-notebook overhead: a trivial notebook (``tests/data/notebooks/checks.ipynb``) run N
   times through ``execution.execute_job`` (one process; and ``execute_jobs`` with 2 workers)
   and through the two command lines;
2. the demo suite (demo preset, generated once): ``nsdval run`` (a fresh process per run,
   as users run it) with ``--jobs 1``
   and ``--jobs 2`` (best of ``--repeats`` interleaved runs) vs the command lines per
   notebook, and ``--jobs 2`` with warm kernels
   (forked from a zygote that has the imports done, the default) vs plain kernel launches
   (``NSDVAL_WARM_KERNELS=0``).

    python benchmarks/bench_notebooks.py                      # subjects 1-2: 9 notebooks
    python benchmarks/bench_notebooks.py --subjects 1-8       # the whole demo suite (33)
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import header, parse_args, row

from nsdval import synth
from nsdval.analysis import cache
from nsdval.cli.environment import WARM_KERNELS_ENV
from nsdval.cli.parser import parse_subjects
from nsdval.data.layout import REGIONS, detect_layout
from nsdval.run import execution, plan, runner

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TRIVIAL = REPO / "tests" / "data" / "notebooks"


def cli_execute(template, out_dir, parameters):
    """One notebook through the papermill CLI, then the nbconvert CLI."""
    out_dir.mkdir(parents=True, exist_ok=True)
    notebook = out_dir / f"{template.stem}.ipynb"
    params = {**parameters, "results_path": str(out_dir / "results.json")}
    command = [str(BIN / "papermill"), str(template), str(notebook), "-k", "python3"]
    command += ["--cwd", str(out_dir), "--no-progress-bar", "--log-level", "ERROR"]
    for name, value in params.items():
        command += ["-p", name, str(value)]
    subprocess.run(command, check=True, capture_output=True)
    subprocess.run(
        [str(BIN / "jupyter"), "nbconvert", "--to", "html", str(notebook)],
        check=True,
        capture_output=True,
    )


def trivial_jobs(n):
    params = {"threshold": 1.0, "label": "x"}
    return [plan.Job(f"t{i}", "checks", None, None, params, f"t{i:02d}") for i in range(n)]


def time_trivial(n, tmp):
    """Seconds per trivial notebook: in-process (1 and 2 workers) and through the CLIs."""
    jobs = trivial_jobs(n)
    start = time.perf_counter()
    for job in jobs:
        record = execution.execute_job(job, out=str(tmp / "serial"), notebooks_dir=str(TRIVIAL))
        assert record.status == "fail", record.error  # checks.ipynb fails one check
    serial = (time.perf_counter() - start) / n
    config = plan.RunConfig(nsd_root=tmp, out=tmp / "pool", jobs=2, notebooks_dir=TRIVIAL)
    start = time.perf_counter()
    runner.execute_jobs(jobs, out=tmp / "pool", config=config)
    pooled = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for job in jobs:
        cli_execute(TRIVIAL / "checks.ipynb", tmp / "cli" / job.rel_dir, job.parameters)
    return serial, pooled, (time.perf_counter() - start) / n


def run_suite(data, out, subjects, jobs, env=None):
    """One `nsdval run` of the suite in a fresh process, as users run it: (seconds, results)."""
    command = [str(BIN / "nsdval"), "run", "--nsd-root", str(data), "--out", str(out)]
    command += ["--subjects", ",".join(map(str, subjects)), "--jobs", str(jobs), "--force"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, f"nsdval run exited {done.returncode}: {done.stderr[-2000:]}"
    results = json.loads((Path(out) / "results.json").read_text())
    bad = [r["id"] for r in results["reports"] if r["status"] not in ("pass", "warn")]
    assert not bad, f"reports did not pass: {bad}"
    return seconds, results


def cli_suite(data, out, records, subjects):
    """The same reports, one papermill + nbconvert command pair each, after one cache fill."""
    layout = detect_layout(data)
    cache_dir = out / ".cache"
    start = time.perf_counter()
    for subject in subjects:
        cache.prepare_subject(layout, subject, REGIONS, cache_dir)
    for record in records:
        params = dict(record["parameters"])
        if "cache_dir" in params:
            params["cache_dir"] = str(cache_dir)
        template = plan.default_notebooks_dir() / f"{record['template']}.ipynb"
        cli_execute(template, out / Path(record["notebook"]).parent, params)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=parse_subjects, default=(1, 2), help="e.g. 1-8")
    parser.add_argument(
        "--trivial", type=int, default=6, help="trivial notebooks per path (--real: 33, a suite)"
    )
    parser.add_argument("--data", type=Path, default=None, help="existing demo tree to reuse")
    parser.add_argument("--repeats", type=int, default=1, help="suite runs per --jobs value")
    args = parse_args(parser, {"subjects": "1-8", "repeats": 3, "trivial": 33})
    header("bench_notebooks: nsdval's runner vs papermill CLI + nbconvert CLI per notebook")
    with tempfile.TemporaryDirectory(prefix="nsdval-bench-") as tmp:
        tmp = Path(tmp)
        serial, pooled, cli = time_trivial(args.trivial, tmp / "trivial")
        print(f"# trivial notebook x {args.trivial}, seconds per notebook:")
        row("per-notebook overhead, 1 process", serial, cli, "CLI")
        row("per-notebook overhead, 2 workers (amortized)", pooled, cli, "CLI")
        data = args.data
        if data is None:
            data = synth.synthesize(tmp / "demo", preset="demo", seed=0)
        ones, twos = [], []
        for _ in range(args.repeats):  # interleaved, so a busy spell hurts both alike
            seconds, results = run_suite(data, tmp / "jobs1", args.subjects, 1)
            ones.append(seconds)
            twos.append(run_suite(data, tmp / "jobs2", args.subjects, 2)[0])
        one, two = min(ones), min(twos)
        if args.repeats > 1:
            print(f"# suite runs (s): --jobs 1 {ones}, --jobs 2 {twos}; the best of each below")
        plain_env = {**os.environ, WARM_KERNELS_ENV: "0"}  # every kernel a fresh launch
        plain, _ = run_suite(data, tmp / "plain2", args.subjects, 2, env=plain_env)
        n = len(results["reports"])
        base = cli_suite(data, tmp / "cli", results["reports"], args.subjects)
        print(f"# demo suite, subjects {args.subjects}: {n} notebooks, extraction included")
        row("suite --jobs 1", one, base, "CLI")
        row("suite --jobs 2", two, base, "CLI")
        row("suite --jobs 2, warm vs plain kernels", two, plain, "plain")
        print(
            f"{'':<44}--jobs 1 / --jobs 2 = {one / two:.2f}x; per notebook "
            f"{one / n:.2f} s (jobs 1), {two / n:.2f} s (jobs 2), {base / n:.2f} s (CLI)"
        )


if __name__ == "__main__":
    main()
