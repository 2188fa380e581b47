"""Peer tests: nsdval against Brain-Score's own code, in the Brain-Score environment.

They run only where ``brainscore_vision`` imports (``make peer`` builds that environment in
``.venv-brainscore``); anywhere else this conftest fails the whole folder instead of
skipping it. Other runs do not collect this folder (``collect_ignore`` in tests/conftest.py):
it is run by naming it, ``pytest tests/peer``.
"""

import os

os.environ["BS_INSTALL_DEPENDENCIES"] = "no"  # load_metric would otherwise run pip
os.environ["RESULTCACHING_DISABLE"] = "1"  # no ceiling cached on disk between trees

try:
    import brainscore_vision  # noqa: F401
except ImportError as exc:
    raise ImportError(
        "tests/peer needs brainscore_vision: run `make peer`, which builds the Brain-Score "
        f"environment in .venv-brainscore and runs these tests there ({exc})"
    ) from exc

import pytest
from peer_helpers import VOLUME, score_real_benchmark


@pytest.fixture(scope="session")
def tiny_tree(tmp_path_factory):
    from nsdval.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("nsd") / "tiny", preset="tiny", seed=0)


@pytest.fixture(scope="session")
def demo_tree(tmp_path_factory):
    from nsdval.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("nsd") / "demo", preset="demo", seed=0)


@pytest.fixture(scope="session")
def tiny_all_tree(tmp_path_factory):
    """The tiny tree with both 8-subject families: volume and fsaverage surface."""
    from nsdval.synth import synthesize

    root = tmp_path_factory.mktemp("nsd") / "tiny_all"
    return synthesize(root, preset="tiny", space="all", seed=0)


@pytest.fixture(scope="session")
def demo_all_tree(tmp_path_factory):
    """The demo tree with all four families (the only preset with subjects 1, 2, 5 and 7)."""
    from nsdval.synth import synthesize

    root = tmp_path_factory.mktemp("nsd") / "demo_all"
    return synthesize(root, preset="demo", space="all", variant="both", seed=0)


@pytest.fixture(scope="session")
def brainscore_scores():
    """``brainscore_scores(root, region, family)``: the real benchmark's numbers, cached."""
    cache = {}

    def get(root, region, family=VOLUME):
        key = (str(root), region, family)
        if key not in cache:
            cache[key] = score_real_benchmark(root, region, family)
        return cache[key]

    return get
