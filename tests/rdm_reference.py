"""The ``-rdm`` benchmark's numbers computed apart from nsdval's analysis code, for tests.

xarray opens the Brain-Score assemblies and activations by path, keeps the region's neuroids
with ``nc_testset > 30``, averages each test image's repetitions (``groupby``), sorts the
images by ``stimulus_id``; ``np.corrcoef`` and ``scipy.stats.spearmanr`` do the rest. The
planted mistakes of :data:`MISTAKES` are the numbers a wrong benchmark would report, written
to ``score_rdm.json`` by :func:`write_score`. :func:`write_tree` writes a small tree of
random assemblies with a shared image structure (a ``subjSS`` folder, ``brainscore/`` and
``benchmark/``), enough for the report's data path.
"""

import json

import numpy as np
import xarray as xr
from scipy.stats import spearmanr

REGIONS = ("V1", "V2", "V4", "IT")


def _open(path):
    with xr.open_dataarray(path) as opened:
        return opened.load()


def region_arrays(
    brainscore, benchmark, region, *, variant="_8subj", family="Allen2022_fmri", average=True
):
    """(stimulus ids, {subject: values}, model values), images sorted by stimulus id.

    ``average=False`` keeps each test repetition as its own image (the mistake of scoring the
    test assembly as stored), the model's row repeated for it.
    """
    parts = []
    for split in ("train", "test"):
        array = _open(brainscore / f"{family}_{split}{variant}.nc").isel(time_bin=0)
        keep = (array["region"].values == region) & (array["nc_testset"].values > 30)
        array = array.isel(neuroid=np.flatnonzero(keep))
        if split == "test" and average:
            array = array.groupby("stimulus_id").mean("presentation")
            array = array.transpose("stimulus_id", "neuroid").rename(stimulus_id="presentation")
            array = array.assign_coords(stimulus_id=("presentation", array["presentation"].values))
        parts.append(array)
    ids = np.concatenate([np.asarray(p["stimulus_id"].values).astype(str) for p in parts])
    values = np.concatenate([p.values.astype(np.float64) for p in parts])
    order = np.argsort(ids, kind="stable")
    labels = np.asarray(parts[0]["subject"].values).astype(str)
    subjects = {s: values[order][:, labels == s] for s in np.unique(labels)}
    features = {}
    for split in ("train", "test"):
        activations = _open(benchmark / region / f"activations_{split}.nc")
        for stimulus, row in zip(
            activations["stimulus_id"].values, activations.values, strict=True
        ):
            features[str(stimulus)] = row
    model = np.stack([features[stimulus] for stimulus in ids[order]]).astype(np.float64)
    return ids[order], subjects, model


def triangle(values):
    """Upper triangle (k = 1) of 1 - np.corrcoef of the rows."""
    rdm = 1 - np.corrcoef(values)
    return rdm[np.triu_indices(rdm.shape[0], k=1)]


def numbers(subjects, model):
    """score_rdm.json's numbers, by scipy: raw, ceiling, leave-one-out bound, score."""
    labels = sorted(subjects)
    tri = {s: triangle(subjects[s]) for s in labels}
    model_tri = triangle(model)
    raws = {s: float(spearmanr(model_tri, tri[s])[0]) for s in labels}
    mean_all = np.mean([tri[s] for s in labels], axis=0)
    ceiling = np.mean([spearmanr(tri[s], mean_all)[0] for s in labels])
    loo = np.mean(
        [spearmanr(tri[s], np.mean([tri[o] for o in labels if o != s], axis=0))[0] for s in labels]
    )
    raw = float(np.mean(list(raws.values())))
    return {
        "score": raw / ceiling,
        "raw": raw,
        "ceiling": float(ceiling),
        "lower_bound_loo": float(loo),
        "subjects": {s: {"raw": value} for s, value in raws.items()},
    }


def pooled_raw(subjects, model):
    """Spearman of the model RDM with one RDM of every subject's neuroids together."""
    pooled = np.concatenate([subjects[s] for s in sorted(subjects)], axis=1)
    return float(spearmanr(triangle(model), triangle(pooled))[0])


def _ceiling_loo(right, **_):
    return {
        **right,
        "ceiling": right["lower_bound_loo"],
        "score": right["raw"] / right["lower_bound_loo"],
    }


def _score_squared(right, **_):
    return {**right, "score": right["raw"] ** 2 / right["ceiling"]}


def _not_averaged(right, *, unaveraged, **_):
    return unaveraged


def _subjects_pooled(right, *, pooled, **_):
    subjects = {s: {"raw": pooled} for s in right["subjects"]}
    return {**right, "raw": pooled, "score": pooled / right["ceiling"], "subjects": subjects}


MISTAKES = {
    "ceiling-loo": _ceiling_loo,
    "score-squared": _score_squared,
    "repetitions-not-averaged": _not_averaged,
    "subjects-pooled": _subjects_pooled,
}
"""Mistake -> what a benchmark making it reports, from the right numbers and alternatives."""

FAILING = {
    None: set(),
    "ceiling-loo": {"rdm-ceiling", "rdm-score"},
    "score-squared": {"rdm-score", "rdm-score-rule"},
    "repetitions-not-averaged": {
        "rdm-raw",
        "rdm-ceiling",
        "rdm-lower-bound-loo",
        "rdm-score",
        "rdm-subject-raw",
    },
    "subjects-pooled": {"rdm-raw", "rdm-score", "rdm-subject-raw"},
}
"""Mistake -> the checks of the report that must fail (the others pass)."""


def reported(brainscore, benchmark, region, **files):
    """What a benchmark reports for the region: right (key None) and with each mistake."""
    ids, subjects, model = region_arrays(brainscore, benchmark, region, **files)
    right = numbers(subjects, model)
    _, raw_subjects, raw_model = region_arrays(
        brainscore, benchmark, region, average=False, **files
    )
    alternatives = {
        "unaveraged": numbers(raw_subjects, raw_model),
        "pooled": pooled_raw(subjects, model),
    }
    wrong = {name: mistake(right, **alternatives) for name, mistake in MISTAKES.items()}
    return {None: right, **wrong}


def write_score(path, record, region="V4"):
    """Write ``record`` as score_rdm.json, with the benchmark and model named."""
    payload = {"benchmark": f"Allen2022_fmri.{region}-rdm", "model": "test-model", **record}
    path.write_text(json.dumps(payload))
    return path


def _assembly(values, *, stimuli, subjects, region_of, nc, repetition=None):
    presentation = {
        "stimulus_id": ("presentation", stimuli),
        "nsd_id": ("presentation", np.array([int(s[4:]) for s in stimuli])),
    }
    if repetition is not None:
        presentation["repetition"] = ("presentation", repetition)
    counts = {}
    ids = []
    for subject, region in zip(subjects, region_of, strict=True):
        counts[subject, region] = counts.get((subject, region), -1) + 1
        ids.append(f"{subject}_{region}_v{counts[subject, region]:04d}")
    coords = {
        **presentation,
        "neuroid_id": ("neuroid", ids),
        "subject": ("neuroid", subjects),
        "region": ("neuroid", region_of),
        "nc_testset": ("neuroid", nc),
        "time_bin_start": ("time_bin", [70]),
        "time_bin_end": ("time_bin", [170]),
    }
    return xr.DataArray(
        values[:, :, None].astype(np.float32),
        dims=("presentation", "neuroid", "time_bin"),
        coords=coords,
    )


def write_tree(root, rng, *, n_subjects=4, n_train=24, n_test=8, units=6, noise=0.8):
    """A small tree: random responses sharing each image's latent vector, all four regions.

    Each subject has ``units`` neuroids with ``nc_testset`` 50 and one with 10 (never
    scored) per region; test images are shown three times. Returns ``root``.
    """
    n_images = n_train + n_test
    latents = rng.normal(size=(n_images, 5))
    ids = np.array([f"nsd_{i:05d}" for i in np.sort(rng.choice(9000, n_images, replace=False))])
    shuffle = rng.permutation(n_images)
    train_ids, test_ids = np.sort(ids[shuffle[:n_train]]), np.sort(ids[shuffle[n_train:]])
    subjects, region_of, nc, weights = [], [], [], []
    for s in range(1, n_subjects + 1):
        for region in REGIONS:
            subjects += [f"subj{s:02d}"] * (units + 1)
            region_of += [region] * (units + 1)
            nc += [50.0] * units + [10.0]
            weights.append(rng.normal(size=(5, units + 1)))
    weights = np.concatenate(weights, axis=1)
    signal = {stimulus: latents[i] @ weights for i, stimulus in enumerate(ids)}
    labels = {"subjects": np.array(subjects), "region_of": np.array(region_of), "nc": np.array(nc)}
    train = np.stack([signal[s] + noise * rng.normal(size=weights.shape[1]) for s in train_ids])
    test_stimuli = np.repeat(test_ids, 3)
    test = np.stack([signal[s] + noise * rng.normal(size=weights.shape[1]) for s in test_stimuli])
    folder = root / "brainscore"
    folder.mkdir(parents=True)
    (root / "subj01").mkdir()
    _assembly(train, stimuli=train_ids, **labels).to_netcdf(
        folder / "Allen2022_fmri_train_8subj.nc"
    )
    _assembly(
        test, stimuli=test_stimuli, repetition=np.tile([0, 1, 2], n_test), **labels
    ).to_netcdf(folder / "Allen2022_fmri_test_8subj.nc")
    mixing = rng.normal(size=(5, 20))
    for region in REGIONS:
        (root / "benchmark" / region).mkdir(parents=True)
        for split, stimuli in (("train", train_ids), ("test", test_ids)):
            rows = np.stack([latents[list(ids).index(s)] @ mixing for s in stimuli])
            rows += 2.0 * rng.normal(size=rows.shape)
            xr.DataArray(
                rows.astype(np.float32),
                dims=("presentation", "neuroid"),
                coords={
                    "stimulus_id": ("presentation", stimuli),
                    "neuroid_id": ("neuroid", [f"f{i}" for i in range(20)]),
                },
            ).to_netcdf(root / "benchmark" / region / f"activations_{split}.nc")
    return root
