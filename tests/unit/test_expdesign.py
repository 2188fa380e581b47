import numpy as np
import pytest
import scipy.io

from nsdval.data.expdesign import (
    ExpDesign,
    load_expdesign,
    repetition_trials,
    shared_repeated_images,
    trial_table,
)
from nsdval.errors import InputError, MissingInputError


@pytest.fixture
def design(rng):
    n_images, n_shared, n_sessions, per_session = 60, 20, 6, 30
    ordering = rng.permutation(np.repeat(np.arange(1, n_images + 1), 3))[
        : n_sessions * per_session
    ]
    subjectim = np.stack(
        [
            np.concatenate(
                [np.arange(1, n_shared + 1) * 7, rng.choice(np.arange(500, 900), 40, False)]
            )
            for _ in range(2)
        ]
    )
    return ExpDesign(ordering, subjectim, np.arange(1, n_shared + 1) * 7)


def loop_trial_records(design, subject, n_sessions, per_session):
    """Direct re-implementation of the seed's get_trial_info loop (all images)."""
    counter, records = {}, []
    for trial in range(n_sessions * per_session):
        image = int(design.masterordering[trial])
        rep = counter.get(image, 0)
        counter[image] = rep + 1
        nsd_id = int(design.subjectim[subject - 1][image - 1] - 1)
        records.append((trial, trial // per_session + 1, trial % per_session, nsd_id, rep))
    return records


@pytest.mark.parametrize("subject", [1, 2])
@pytest.mark.parametrize("n_sessions", [4, 6])
def test_trial_table_equals_a_direct_loop(design, subject, n_sessions):
    table = trial_table(design, subject, n_sessions, 30)
    got = table[["trial", "session", "position", "nsd_id", "repetition"]].to_numpy().tolist()
    assert got == [list(r) for r in loop_trial_records(design, subject, n_sessions, 30)]
    assert table["shared"].to_numpy().tolist() == [
        (nsd + 1) in set(design.sharedix.tolist()) for nsd in table["nsd_id"]
    ]


def test_shared_repeated_images_is_the_intersection_over_subjects(design):
    tables = [trial_table(design, 1, 6, 30), trial_table(design, 2, 4, 30)]
    got = shared_repeated_images(tables)
    expected = None
    for table in tables:
        counts = {}
        for nsd, shared in zip(table["nsd_id"], table["shared"], strict=True):
            if shared:
                counts[nsd] = counts.get(nsd, 0) + 1
        ids = {k for k, v in counts.items() if v == 3}
        expected = ids if expected is None else expected & ids
    assert got.tolist() == sorted(expected)
    assert 0 < got.size < design.sharedix.size  # fewer sessions -> strict subset


def test_repetition_trials_are_chronological(design):
    table = trial_table(design, 1, 6, 30)
    ids = shared_repeated_images([table])
    trials = repetition_trials(table, ids[::-1])  # any order in, rows follow it
    for row, nsd in zip(trials, ids[::-1], strict=True):
        expected = table.loc[table["nsd_id"] == nsd, "trial"].to_numpy()
        assert row.tolist() == sorted(expected.tolist())


def test_repetition_trials_refuses_images_not_shown_three_times(design):
    table = trial_table(design, 1, 2, 30)
    counts = table["nsd_id"].value_counts()
    once = counts.index[counts == 1][0]
    with pytest.raises(ValueError, match=f"nsd_id {once} is shown 1 times, expected 3"):
        repetition_trials(table, [once])


def test_trial_table_refuses_more_trials_than_the_ordering(design):
    with pytest.raises(InputError, match="exceed the 180 trials"):
        trial_table(design, 1, 7, 30)


@pytest.mark.parametrize("as_float", [False, True])
def test_load_accepts_integer_or_float_storage(tmp_path, design, as_float):
    cast = np.float64 if as_float else np.int32
    path = tmp_path / "nsd_expdesign.mat"
    scipy.io.savemat(
        path,
        {
            "masterordering": design.masterordering[None, :].astype(cast),
            "subjectim": design.subjectim.astype(cast),
            "sharedix": design.sharedix[None, :].astype(cast),
        },
    )
    loaded = load_expdesign(path)
    assert loaded.masterordering.dtype == np.int64
    np.testing.assert_array_equal(loaded.masterordering, design.masterordering)
    np.testing.assert_array_equal(loaded.subjectim, design.subjectim)


def test_load_names_missing_variable_and_missing_file(tmp_path, design):
    path = tmp_path / "nsd_expdesign.mat"
    scipy.io.savemat(
        path, {"masterordering": design.masterordering, "subjectim": design.subjectim}
    )
    with pytest.raises(InputError, match=r"nsd_expdesign.mat: missing variable 'sharedix'"):
        load_expdesign(path)
    with pytest.raises(MissingInputError, match="missing experimental design"):
        load_expdesign(tmp_path / "absent.mat")


def test_load_refuses_zero_based_indexes(tmp_path, design):
    path = tmp_path / "d.mat"
    scipy.io.savemat(
        path,
        {
            "masterordering": design.masterordering - 1,
            "subjectim": design.subjectim,
            "sharedix": design.sharedix,
        },
    )
    with pytest.raises(InputError, match="'masterordering' should hold 1-based indexes"):
        load_expdesign(path)
