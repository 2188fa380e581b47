import numpy as np
import pytest

from nsdval.analysis import chain


def test_session_zscore_uses_population_std_and_maps_constant_voxels_to_zero(rng):
    x = rng.normal(3.0, 2.0, size=(50, 4))
    x[:, 2] = 0.0
    z = chain.session_zscore(x)
    np.testing.assert_allclose(z[:, [0, 1, 3]].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z[:, [0, 1, 3]].std(axis=0, ddof=0), 1, atol=1e-12)
    assert np.all(z[:, 2] == 0)
    manual = (x[:, 0] - x[:, 0].mean()) / np.sqrt(((x[:, 0] - x[:, 0].mean()) ** 2).mean())
    np.testing.assert_allclose(z[:, 0], manual)


def test_session_zscore_does_not_modify_its_input(rng):
    x = rng.normal(size=(10, 3)).astype(np.float32)
    before = x.copy()
    chain.session_zscore(x)
    np.testing.assert_array_equal(x, before)


def test_global_zscore_applies_the_averaged_images_statistics_to_each_repetition(rng):
    reps = rng.normal(size=(3, 20, 5))
    averaged = chain.mean_over_repetitions(reps)
    averaged_z, reps_z = chain.global_zscore(averaged, reps)
    mean, std = averaged.mean(axis=0), averaged.std(axis=0)
    np.testing.assert_allclose(averaged_z, (averaged - mean) / std)
    np.testing.assert_allclose(reps_z[1], (reps[1] - mean) / std)
    np.testing.assert_allclose(reps_z.mean(axis=0), averaged_z)


@pytest.mark.parametrize("n", [5, 48, 515])
def test_split_indices_follow_brainscore(n):
    order = np.arange(n)
    np.random.RandomState(42).shuffle(order)
    cut = int(0.8 * n)
    train, test = chain.split_indices(n)
    assert train.tolist() == sorted(order[:cut].tolist())
    assert test.tolist() == sorted(order[cut:].tolist())
    if n == 515:
        assert (len(train), len(test)) == (412, 103)
