import numpy as np
import pytest

from nsdval.analysis.noiseceiling import formula
from nsdval.analysis.noiseceiling import streaming as noise
from nsdval.data import expdesign


@pytest.fixture
def table(rng):
    n_images, per_session, n_sessions = 80, 40, 5
    ordering = rng.permutation(np.repeat(np.arange(1, n_images + 1), 3))
    design = expdesign.ExpDesign(ordering, np.arange(1, n_images + 1)[None, :] * 3, np.array([3]))
    return expdesign.trial_table(design, 1, n_sessions, per_session)


def test_streamed_noise_variance_equals_the_direct_computation(table, rng):
    z = rng.normal(size=(len(table), 6))
    acc = noise.NoiseAccumulator(table, 6)
    for first in range(0, len(table), 40):
        acc.add(first, z[first : first + 40])
    ids = expdesign.images_with_repetitions(table)
    trials = expdesign.repetition_trials(table, ids)
    direct = formula.noise_ceiling_snr(np.moveaxis(z[trials], 1, 0))
    np.testing.assert_allclose(formula.ncsnr_from_noise_variance(acc.noise_variance()), direct)
    assert acc.n_images == ids.size


def test_the_finite_accumulator_leaves_out_images_with_a_nan_trial(table, rng):
    z = rng.normal(size=(len(table), 4))
    ids = expdesign.images_with_repetitions(table)
    trials = expdesign.repetition_trials(table, ids)  # (images, 3)
    z[trials[0, 1], 0] = np.nan  # voxel 0: image 0 loses one presentation
    z[trials[:, 2], 1] = np.nan  # voxel 1: every image incomplete
    z[:40, 2] = np.nan  # voxel 2: NaN for a whole session
    acc = noise.FiniteNoiseAccumulator(table, 4)
    for first in range(0, len(table), 40):
        acc.add(first, z[first : first + 40])
    got = acc.noise_variance()
    reps = z[trials]  # (images, 3, voxels)
    for voxel in range(4):
        complete = np.isfinite(reps[:, :, voxel]).all(axis=1)
        expected = (
            reps[complete, :, voxel].var(axis=1, ddof=1).mean() if complete.any() else np.nan
        )
        np.testing.assert_allclose(got[voxel], expected, err_msg=f"voxel {voxel}")
    assert np.isnan(got[1]) and np.isfinite(got[[0, 2, 3]]).all()
    clean = noise.NoiseAccumulator(table, 4)
    for first in range(0, len(table), 40):
        clean.add(first, np.nan_to_num(z[first : first + 40]))
    np.testing.assert_allclose(got[3], clean.noise_variance()[3])  # no NaN: the same number


def test_slots_are_reused_so_the_pool_stays_below_the_image_count(table):
    slots, closes, n_slots = noise.slot_plan(table)
    counted = slots >= 0
    assert n_slots < table.loc[counted, "nsd_id"].nunique()
    assert closes.sum() == table.loc[counted, "nsd_id"].nunique()
    # within one session a slot never serves two images
    frame = table.assign(slot=slots)[counted]
    per_session = frame.groupby(["session", "slot"])["nsd_id"].nunique()
    assert per_session.max() == 1


@pytest.mark.parametrize("n_rows", [0, 1, 7, 50])
def test_add_rows_sums_repeated_indexes_like_add_at(rng, n_rows):
    index = rng.integers(0, 5, size=n_rows)  # repeats, in any order
    rows = rng.normal(size=(n_rows, 3))
    expected = rng.normal(size=(5, 3))
    target = expected.copy()
    for i, row in zip(index, rows, strict=True):  # the definition, one row at a time
        expected[i] += row
    noise.add_rows(target, index, rows)
    np.testing.assert_allclose(target, expected, rtol=0, atol=1e-12)
