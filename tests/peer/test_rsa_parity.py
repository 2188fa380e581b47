"""nsdval's replica of the ``-rdm`` benchmarks equals Brain-Score's RSA classes.

Random regions are built as ``load_full_assembly`` returns them (a ``NeuroidAssembly`` of
presentations x neuroids with ``stimulus_id``, ``subject`` and ``region``, its StimulusSet
attached) and scored by Brain-Score's ``RDMMetric`` and ``RSACeiling``, by its
``RSABenchmark`` through the ``Allen2022fmriRSA`` factory with a stand-in model, and by
:mod:`nsdval.analysis.rsa` on plain arrays sorted by stimulus id.
"""

from unittest import mock

import numpy as np
import pytest
import xarray as xr

from nsdval.analysis import peer, rsa

TOLERANCE = 1e-6


def random_region(seed, n_subjects, n_images, *, ties=False):
    """Subjects sharing a latent image structure; the presentations in no sorted order.

    With ``ties``, the model has two units of +-1 (its RDM holds only 0 and 2, exactly) and
    the first subject's values are rounded to integers.
    """
    rng = np.random.default_rng(seed)
    latents = rng.normal(size=(n_images, 4))
    subjects = {}
    for index in range(n_subjects):
        n_units = int(rng.integers(15, 80))
        values = latents @ rng.normal(size=(4, n_units))
        values += 2.0 * rng.normal(size=(n_images, n_units))
        subjects[f"subj{index + 1:02d}"] = values.astype(np.float32)
    model = latents @ rng.normal(size=(4, 60)) + 3.0 * rng.normal(size=(n_images, 60))
    if ties:
        model = np.where(latents[:, :1] > 0, 1.0, -1.0) * np.array([[1.0, -1.0]])
        subjects["subj01"] = np.round(subjects["subj01"])
    ids = np.array([f"nsd_{i:05d}" for i in rng.choice(73000, size=n_images, replace=False)])
    return model, subjects, ids


def neural_assembly(subjects, ids, region="IT"):
    """The region's assembly as ``load_full_assembly`` hands it to ``RSABenchmark``."""
    values = np.concatenate(list(subjects.values()), axis=1)
    labels = np.concatenate([[label] * v.shape[1] for label, v in subjects.items()])
    array = xr.DataArray(
        values[:, :, None],
        dims=["presentation", "neuroid", "time_bin"],
        coords={
            "stimulus_id": ("presentation", ids),
            "nsd_id": ("presentation", np.array([int(i[4:]) for i in ids])),
            "neuroid_id": ("neuroid", [f"{s}_{region}_v{i:04d}" for i, s in enumerate(labels)]),
            "subject": ("neuroid", labels),
            "region": ("neuroid", [region] * len(labels)),
            "time_bin_start": ("time_bin", [70]),
            "time_bin_end": ("time_bin", [170]),
        },
    )
    assembly = peer.neuroid_assembly(array, identifier="Allen2022_fmri_train--full")
    return assembly.isel(time_bin=0)


def recorded_model(model, ids, rng):
    """A stand-in model holding its activations in another order than the assembly."""
    order = rng.permutation(len(ids))
    activations = xr.DataArray(
        model[order],
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ids[order]),
            "neuroid_id": ("neuroid", [f"unit{i}" for i in range(model.shape[1])]),
        },
    )
    return peer.RecordedModel([activations])


def replica(model, subjects, ids):
    """nsdval's numbers from arrays sorted by stimulus id."""
    sorted_model, model_ids = rsa.sort_by_stimulus(model, ids)
    sorted_subjects = {}
    for label, values in subjects.items():
        sorted_subjects[label], subject_ids = rsa.sort_by_stimulus(values, ids)
        assert (subject_ids == model_ids).all()
    return rsa.score_rsa(sorted_model, sorted_subjects)


def brainscore_benchmark_numbers(model, subjects, ids, seed):
    """Brain-Score's ``Allen2022fmriRSA('IT')`` on the assembly, with the stand-in model."""
    from brainscore_vision.benchmarks.allen2022_fmri import benchmark as module

    assembly = neural_assembly(subjects, ids)
    with mock.patch.object(module, "load_full_assembly", lambda **_: assembly), peer.quiet():
        bench = module.Allen2022fmriRSA("IT")
        score = bench(recorded_model(model, ids, np.random.default_rng(seed)))
    raw, ceiling = score.attrs["raw"], score.attrs["ceiling"]
    return {
        "identifier": bench.identifier,
        "raw": float(raw),
        "ceiling": float(ceiling),
        "lower_bound_loo": float(ceiling.attrs["lower_bound_loo"]),
        "score": float(score),
        "subject_raws": list(raw.attrs["subject_scores"]),
    }


def differences(ours, theirs):
    keys = ("raw", "ceiling", "lower_bound_loo", "score")
    gaps = {key: abs(getattr(ours, key) - theirs[key]) for key in keys}
    subject_gaps = np.abs(np.subtract(list(ours.subject_raws.values()), theirs["subject_raws"]))
    gaps["subject_raws"] = float(np.max(subject_gaps))
    return gaps


CASES = {
    "8 subjects, 40 images": (0, 8, 40, False),
    "4 subjects, 70 images": (1, 4, 70, False),
    "3 subjects, 35 images, ties": (2, 3, 35, True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_replica_equals_the_rsa_benchmark(case):
    seed, n_subjects, n_images, ties = CASES[case]
    model, subjects, ids = random_region(seed, n_subjects, n_images, ties=ties)
    theirs = brainscore_benchmark_numbers(model, subjects, ids, seed)
    assert theirs["identifier"] == "Allen2022_fmri.IT-rdm"
    ours = replica(model, subjects, ids)
    gaps = differences(ours, theirs)
    print(case, "largest differences:", gaps)
    assert max(gaps.values()) <= TOLERANCE, gaps
    assert 0 < ours.lower_bound_loo < ours.ceiling < 1


@pytest.mark.parametrize("case", list(CASES))
def test_replica_equals_the_metric_and_ceiling_classes(case):
    from brainscore_vision.metrics.rdm.metric import RDMMetric
    from brainscore_vision.metrics.rsa_ceiling.ceiling import RSACeiling

    seed, n_subjects, n_images, ties = CASES[case]
    model, subjects, ids = random_region(seed, n_subjects, n_images, ties=ties)
    assembly = neural_assembly(subjects, ids)
    model_assembly = recorded_model(model, ids, np.random.default_rng(seed)).look_at(
        assembly.stimulus_set
    )
    ours = replica(model, subjects, ids)
    with peer.quiet():
        ceiling = RSACeiling()(assembly)
        for label, raw in ours.subject_raws.items():
            subject = assembly.sel(neuroid=assembly["subject"] == label)
            assert raw == pytest.approx(float(RDMMetric()(model_assembly, subject)), abs=TOLERANCE)
    assert ours.ceiling == pytest.approx(float(ceiling), abs=TOLERANCE)
    assert ours.lower_bound_loo == pytest.approx(ceiling.attrs["lower_bound_loo"], abs=TOLERANCE)


def test_one_subject_has_ceiling_one_and_no_loo_bound_in_both():
    model, subjects, ids = random_region(3, 1, 30)
    theirs = brainscore_benchmark_numbers(model, subjects, ids, 3)
    ours = replica(model, subjects, ids)
    assert theirs["ceiling"] == pytest.approx(1.0, abs=1e-12)
    assert np.isnan(theirs["lower_bound_loo"]) and np.isnan(ours.lower_bound_loo)
    for key in ("raw", "ceiling", "score"):
        assert getattr(ours, key) == pytest.approx(theirs[key], abs=TOLERANCE), key


def test_a_constant_image_gives_nan_in_both():
    model, subjects, ids = random_region(4, 3, 30)
    subjects["subj02"][7] = 0.0
    theirs = brainscore_benchmark_numbers(model, subjects, ids, 4)
    ours = replica(model, subjects, ids)
    for key in ("raw", "ceiling", "lower_bound_loo", "score"):
        assert np.isnan(theirs[key]) and np.isnan(getattr(ours, key)), key
    np.testing.assert_array_equal(np.isnan(theirs["subject_raws"]), [False, True, False])
    np.testing.assert_allclose(
        list(ours.subject_raws.values()), theirs["subject_raws"], atol=TOLERANCE
    )
