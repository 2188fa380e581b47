import os
import signal
import time

import pytest

from nsdval.data import watched
from nsdval.errors import InputError


# module-level: the children unpickle them by name
def read_files(paths):
    for path in paths:
        watched.heartbeat(path, step=path)
    return len(paths)


def spin_on(path):
    watched.heartbeat(path)
    while True:
        time.sleep(0.05)


def die_on(path):
    watched.heartbeat(path)
    os.kill(os.getpid(), signal.SIGKILL)


def refuse(path):
    raise InputError(path, "not a readable file")


def test_results_and_heartbeats_come_back():
    seen = []
    calls = [(read_files, {"paths": ["a", "b"]}, "x"), (read_files, {"paths": ["c"]}, "y")]
    done = dict(watched.run_watched(calls, jobs=2, on_beat=lambda *a: seen.append(a)))
    assert done == {0: 2, 1: 1}
    assert sorted(seen) == [
        (0, "a", {"step": "a"}),
        (0, "b", {"step": "b"}),
        (1, "c", {"step": "c"}),
    ]


def test_a_child_that_stops_progressing_is_killed_and_its_file_named():
    start = time.monotonic()
    with pytest.raises(InputError, match="no progress reading it within 1 s") as err:
        list(watched.run_watched([(spin_on, {"path": "/data/assembly.nc"}, "/data")], timeout=1))
    assert err.value.path == "/data/assembly.nc"
    assert time.monotonic() - start < 30


def test_a_child_that_dies_names_the_file_it_was_reading():
    with pytest.raises(InputError, match="died") as err:
        list(watched.run_watched([(die_on, {"path": "/data/betas.hdf5"}, "/data")]))
    assert err.value.path == "/data/betas.hdf5"


def test_an_input_error_of_a_child_is_raised_as_is():
    with pytest.raises(InputError, match="/x.nii.gz: not a readable file"):
        list(watched.run_watched([(refuse, {"path": "/x.nii.gz"}, "/")]))


def test_heartbeat_outside_a_watched_child_does_nothing():
    assert watched.heartbeat("/anything", done=1) is None
