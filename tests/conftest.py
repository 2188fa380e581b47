import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)


# tests/peer runs only in the Brain-Score environment, on its own: `make peer`.
collect_ignore = ["peer"]
