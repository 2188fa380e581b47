"""One region's ``-rdm`` score: nsdval's replica vs Brain-Score's RSABenchmark, same arrays.

Times raw, the RSA ceiling and its leave-one-out bound (what one ``REGION-rdm`` benchmark
computes) three ways, each in a fresh process that reports its peak memory (``VmHWM``):

- nsdval: ``nsdval.analysis.rsa.score_rsa`` on arrays sorted by stimulus id;
- Brain-Score: ``Allen2022fmriRSA(region)`` (its ``RSABenchmark`` with ``RDM``,
  ``RDMSimilarity`` and ``RSACeiling``; the ceiling recomputed per call, no result cache)
  scoring a stand-in model, in the Brain-Score environment (``--brainscore-python``,
  default ``.venv-brainscore/bin/python``); skipped with a note where that is absent;
- scipy: the same computation written plainly (``np.corrcoef`` per RDM, ``spearmanr`` per
  comparison, the ceiling and the score computed separately, as Brain-Score structures it).

Synthetic regions: subjects share a latent image structure, each adds its own image-level
structure and noise; the presentations and the model's activations are in different, unsorted
orders. Each set is measured with ``--units`` units per subject and with ``--units`` in all,
shared out over the subjects (IT's reliable neuroids: 11 744 in the issue's wording).
The numbers must agree within 1e-6.

    python benchmarks/bench_rsa.py            # 8 subjects x 150 images, 4 x 300; 2000 units
    python benchmarks/bench_rsa.py --real     # 8 x 515, 4 x 1000; 11 744 units
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from common import best_of, header, parse_args, peak_rss_mb, row

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-6
KEYS = ("raw", "ceiling", "lower_bound_loo", "score")


def unit_counts(n_subjects, units, shared, rng):
    """Units per subject: ``units`` each, or ``units`` in all with uneven shares."""
    if not shared:
        return [units] * n_subjects
    weights = rng.uniform(0.6, 1.4, n_subjects)
    counts = np.floor(units * weights / weights.sum()).astype(int)
    counts[0] += units - counts.sum()
    return counts.tolist()


def make_region(path, n_subjects, n_images, counts, n_features, seed=0):
    """Write a region's arrays (float32, as stored) to ``path`` (.npz)."""
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((n_images, 20))
    arrays = {}
    for index, n_units in enumerate(counts):
        own = rng.standard_normal((n_images, 20))  # image structure of this subject alone
        values = shared @ rng.standard_normal((20, n_units))
        values += 1.2 * own @ rng.standard_normal((20, n_units))
        values += 6.0 * rng.standard_normal((n_images, n_units))
        arrays[f"subject{index}"] = values.astype(np.float32)
        del values
    model = shared @ rng.standard_normal((20, n_features))
    model += 2.0 * rng.standard_normal((n_images, 20)) @ rng.standard_normal((20, n_features))
    model += 6.0 * rng.standard_normal((n_images, n_features))
    ids = np.array([f"nsd_{i:05d}" for i in rng.choice(73000, n_images, replace=False)])
    model_order = rng.permutation(n_images)
    arrays.update(model=model[model_order].astype(np.float32), model_ids=ids[model_order])
    np.savez(path, ids=ids, n_subjects=n_subjects, **arrays)


def load_region(path):
    with np.load(path) as data:
        subjects = {
            f"subj{i + 1:02d}": data[f"subject{i}"] for i in range(int(data["n_subjects"]))
        }
        return data["model"], data["model_ids"], subjects, data["ids"]


# ------------------------------------------------------------------ the three scorers


def nsdval_score(model, model_ids, subjects, ids):
    from nsdval.analysis import rsa

    model, model_ids = rsa.sort_by_stimulus(model, model_ids)
    aligned = {}
    for label, values in subjects.items():
        aligned[label], subject_ids = rsa.sort_by_stimulus(values, ids)
        assert (subject_ids == model_ids).all()
    result = rsa.score_rsa(model, aligned)
    numbers = {key: getattr(result, key) for key in KEYS}
    return {**numbers, "subject_raws": list(result.subject_raws.values())}


def scipy_rdm(values):
    return 1.0 - np.corrcoef(np.asarray(values, dtype=np.float64))


def scipy_score(model, model_ids, subjects, ids):
    from scipy.stats import spearmanr

    mask = np.triu(np.ones((len(ids), len(ids)), dtype=bool), k=1)
    model_rdm = scipy_rdm(model[np.argsort(model_ids)])[mask]
    order = np.argsort(ids)
    raws = [spearmanr(model_rdm, scipy_rdm(v[order])[mask])[0] for v in subjects.values()]
    stack = np.stack([scipy_rdm(v) for v in subjects.values()])  # the ceiling's own RDMs
    mean_all = stack.mean(axis=0)[mask]
    upper, lower = [], []
    for i in range(len(stack)):
        own = stack[i][mask]
        upper.append(spearmanr(own, mean_all)[0])
        lower.append(spearmanr(own, np.delete(stack, i, axis=0).mean(axis=0)[mask])[0])
    raw, ceiling = np.mean(raws), np.mean(upper)
    numbers = dict(raw=raw, ceiling=ceiling, lower_bound_loo=np.mean(lower), score=raw / ceiling)
    return {**{k: float(v) for k, v in numbers.items()}, "subject_raws": raws}


def brainscore_setup(model, model_ids, subjects, ids):
    """Brain-Score's benchmark factory on the region, and the stand-in model."""
    import xarray as xr
    from brainscore_vision.benchmarks.allen2022_fmri import benchmark as module

    from nsdval.analysis import peer

    labels = np.concatenate([[label] * v.shape[1] for label, v in subjects.items()])
    array = xr.DataArray(
        np.concatenate(list(subjects.values()), axis=1)[:, :, None],
        dims=["presentation", "neuroid", "time_bin"],
        coords={
            "stimulus_id": ("presentation", ids),
            "nsd_id": ("presentation", [int(i[4:]) for i in ids]),
            "neuroid_id": ("neuroid", [f"{s}_IT_v{i:05d}" for i, s in enumerate(labels)]),
            "subject": ("neuroid", labels),
            "region": ("neuroid", ["IT"] * labels.size),
            "time_bin_start": ("time_bin", [70]),
            "time_bin_end": ("time_bin", [170]),
        },
    )
    assembly = peer.neuroid_assembly(array, identifier="Allen2022_fmri_train--full")
    assembly = assembly.isel(time_bin=0)
    del array
    module.load_full_assembly = lambda **_: assembly
    activations = xr.DataArray(
        model,
        dims=["presentation", "neuroid"],
        coords={"stimulus_id": ("presentation", model_ids)},
    )
    return module, peer.RecordedModel([activations])


def brainscore_score(module, candidate):
    bench = module.Allen2022fmriRSA("IT")  # a new benchmark: its ceiling is computed again
    score = bench(candidate)
    raw, ceiling = score.attrs["raw"], score.attrs["ceiling"]
    numbers = dict(raw=raw, ceiling=ceiling, score=score)
    numbers = {key: float(value) for key, value in numbers.items()}
    numbers["lower_bound_loo"] = float(ceiling.attrs["lower_bound_loo"])
    return {**numbers, "subject_raws": [float(s) for s in raw.attrs["subject_scores"]]}


def child(kind, path, repeats):
    """Score the region of ``path`` in this process; print one JSON line."""
    os.environ["RESULTCACHING_DISABLE"] = "1"
    os.environ["BS_INSTALL_DEPENDENCIES"] = "no"
    warnings.simplefilter("ignore")
    inputs = load_region(path)
    if kind == "brainscore":
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            args = brainscore_setup(*inputs)
            del inputs
            inputs_mb = peak_rss_mb()
            seconds, numbers = best_of(brainscore_score, *args, repeats=repeats, budget=60)
    else:
        inputs_mb = peak_rss_mb()
        scorer = nsdval_score if kind == "nsdval" else scipy_score
        seconds, numbers = best_of(scorer, *inputs, repeats=repeats, budget=60)
    result = {"seconds": seconds, "peak_mb": peak_rss_mb(), "inputs_mb": inputs_mb}
    print(json.dumps({**result, "numbers": numbers}))


# ------------------------------------------------------------------ the parent


def measure(python, kind, path, repeats):
    command = [python, __file__, "--child", kind, str(path), "--repeats", str(repeats)]
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def largest_difference(ours, theirs):
    gaps = [abs(ours[key] - theirs[key]) for key in KEYS]
    gaps += np.abs(np.subtract(ours["subject_raws"], theirs["subject_raws"])).tolist()
    return float(np.nanmax(gaps))


def brainscore_python(args):
    """The Brain-Score interpreter, or None (with the reason printed) if it cannot serve."""
    python = args.brainscore_python
    if not Path(python).exists():
        print(f"# no Brain-Score environment at {python}: its baseline is skipped")
        return None
    probe = [python, "-c", "import brainscore_vision.metrics.rsa_ceiling"]
    done = subprocess.run(probe, capture_output=True, text=True, env={**os.environ})
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "?"
        print(f"# Brain-Score does not import with {python} ({reason}): its baseline is skipped")
        return None
    return python


BASELINES = {"brainscore": "RSABenchmark", "scipy": "plain scipy"}


def fastest(runs):
    """The best time over runs, the highest peaks, the numbers of the first run."""
    return {
        **runs[0],
        "seconds": min(run["seconds"] for run in runs),
        "peak_mb": max(run["peak_mb"] for run in runs),
        "inputs_mb": max(run["inputs_mb"] for run in runs),
    }


def compare(label, ours, base, name):
    difference = largest_difference(ours["numbers"], base["numbers"])
    assert difference <= TOLERANCE, f"{label}: numbers differ from {name} by {difference:.2e}"
    row(label, ours["seconds"], base["seconds"], name)
    print(
        f"{'':<44}peak {name} {base['peak_mb']:6.0f} MB (before scoring {base['inputs_mb']:.0f})  "
        f"max |difference| {difference:.1e}",
        flush=True,
    )


def run_set(args, workdir, n_subjects, n_images, shared, bs_python):
    counts = unit_counts(n_subjects, args.units, shared, np.random.default_rng(1))
    path = workdir / f"region_{n_subjects}x{n_images}_{'total' if shared else 'each'}.npz"
    start = time.perf_counter()
    make_region(path, n_subjects, n_images, counts, args.features)
    units = f"{args.units} in all" if shared else f"{args.units} each"
    print(
        f"# {n_subjects} subjects x {n_images} images, units {units} ({min(counts)}.."
        f"{max(counts)} per subject), model {args.features} features "
        f"(written in {time.perf_counter() - start:.0f} s)",
        flush=True,
    )
    pythons = {"nsdval": sys.executable, "brainscore": bs_python, "scipy": sys.executable}
    runs = {kind: [] for kind, python in pythons.items() if python}
    for _ in range(args.rounds):  # interleaved: the machine's load changes over a run
        for kind in runs:
            runs[kind].append(measure(pythons[kind], kind, path, args.repeats))
    results = {kind: fastest(kind_runs) for kind, kind_runs in runs.items()}
    ours = results.pop("nsdval")
    n = ours["numbers"]
    print(
        f"{'':<44}nsdval: raw {n['raw']:.4f}, ceiling {n['ceiling']:.4f}, "
        f"LOO {n['lower_bound_loo']:.4f}, score {n['score']:.4f}; peak {ours['peak_mb']:.0f} MB "
        f"(before scoring {ours['inputs_mb']:.0f})",
        flush=True,
    )
    label = f"{n_subjects}x{n_images}, {units}"
    for kind, base in results.items():
        compare(f"{label}: {BASELINES[kind]}", ours, base, kind)
    path.unlink()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="8x150,4x300", help="SUBJECTSxIMAGES, comma list")
    parser.add_argument("--units", type=int, default=2000, help="units per subject / in all")
    parser.add_argument("--features", type=int, default=1024, help="model features")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved fresh processes")
    default_python = os.environ.get("NSDVAL_BRAINSCORE_PYTHON")
    default_python = default_python or str(REPO / ".venv-brainscore" / "bin" / "python")
    parser.add_argument("--brainscore-python", default=default_python)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "NPZ"), help=argparse.SUPPRESS)
    args = parse_args(parser, {"sets": "8x515,4x1000", "units": 11744, "features": 4096})
    if args.child:
        child(*args.child, args.repeats)
        return
    header("bench_rsa: one region's -rdm score and both ceiling bounds, nsdval vs Brain-Score")
    bs_python = brainscore_python(args)
    workdir = Path(tempfile.mkdtemp(prefix="nsdval-bench-rsa-"))
    try:
        for spec in args.sets.split(","):
            n_subjects, n_images = (int(part) for part in spec.split("x"))
            for shared in (False, True):
                run_set(args, workdir, n_subjects, n_images, shared, bs_python)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
