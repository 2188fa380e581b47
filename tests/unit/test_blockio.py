import threading

import numpy as np
import pytest

from nsdval.analysis import blockio


def test_read_ahead_yields_in_order_and_starts_at_most_one_call_ahead():
    started = []
    lock = threading.Lock()

    def call(i):
        with lock:
            started.append(i)
        return i * 10

    seen = []
    for value in blockio.read_ahead(lambda i=i: call(i) for i in range(6)):
        seen.append(value)
        with lock:
            assert max(started) <= len(seen)  # the current call and the next, no further
    assert seen == [0, 10, 20, 30, 40, 50]


@pytest.mark.parametrize("ahead", [True, False])
def test_read_ahead_raises_a_calls_error_at_its_turn(ahead):
    def call(i):
        if i == 2:
            raise OSError("unreadable session")
        return i

    got = []
    with pytest.raises(OSError, match="unreadable session"):
        for value in blockio.read_ahead((lambda i=i: call(i) for i in range(5)), ahead=ahead):
            got.append(value)
    assert got == [0, 1]


def test_read_ahead_off_runs_each_call_when_its_result_is_asked():
    started = []
    reads = blockio.read_ahead((lambda i=i: started.append(i) or i for i in range(3)), ahead=False)
    assert next(reads) == 0 and started == [0]
    assert next(reads) == 1 and started == [0, 1]


def fancy_write(out, rep, image, values, columns):
    """The definition: every cell by index."""
    out[rep[:, None], image[:, None], columns[None, :]] = values


@pytest.mark.parametrize("most", [16, 1])
def test_column_writes_put_every_column_where_fancy_indexing_does(rng, most):
    runs = [np.arange(lo, lo + n) for lo, n in ((40, 5), (3, 7), (20, 1), (60, 4))]
    columns = rng.permutation(np.concatenate(runs))  # interleaved, as regions in file order
    rep, image = rng.integers(0, 3, 30), rng.permutation(50)[:30]
    values = rng.normal(size=(30, columns.size))
    expected = np.zeros((3, 50, 70), dtype=np.float32)
    fancy_write(expected, rep, image, values.astype(np.float32), columns)
    got = np.zeros_like(expected)
    writes = blockio.column_writes(columns, most=most)
    assert len(writes) == (4 if most == 16 else 1)
    blockio.write_rows(got, rep, image, values, writes)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.float32


def test_column_writes_use_a_slice_where_the_block_is_consecutive_too():
    writes = blockio.column_writes(np.array([9, 10, 11, 2, 3]))
    assert writes == [(slice(3, 5), slice(2, 4)), (slice(0, 3), slice(9, 12))]
