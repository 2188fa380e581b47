import pickle

import pytest

from nsdval import errors


@pytest.mark.parametrize(
    ("error", "builtin", "text"),
    [
        (errors.InputError("/a/b.hdf5", "bad dtype"), ValueError, "/a/b.hdf5: bad dtype"),
        (
            errors.MissingInputError("/a", "NSD root folder"),
            FileNotFoundError,
            "/a: missing NSD root folder",
        ),
        (errors.LayoutError("/r", "neither layout"), ValueError, "/r: neither layout"),
        (errors.OutputError("/o", "is a file"), OSError, "/o: is a file"),
        (
            errors.ParameterError("seed", "expected int"),
            ValueError,
            "parameter 'seed': expected int",
        ),
        (
            errors.DependencyError("brainscore_vision", "No module named 'brainscore_core'"),
            ImportError,
            "brainscore_vision cannot be imported: No module named 'brainscore_core'",
        ),
    ],
)
def test_errors_read_well_inherit_builtins_and_pickle(error, builtin, text):
    assert isinstance(error, errors.NsdvalError) and isinstance(error, builtin)
    assert str(error) == text
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == text


def test_attributes_hold_the_data():
    assert errors.MissingInputError("/a", "x").what == "x"
    assert errors.LayoutError("/r", "p").root == "/r"
    assert errors.ParameterError("n", "p").name == "n"
