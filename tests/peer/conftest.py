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
from peer_helpers import VOLUME, score_real_benchmark, score_real_rdm_benchmark


@pytest.fixture(scope="session")
def tiny_tree(tmp_path_factory):
    from nsdval.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("nsd") / "tiny", preset="tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_all_tree(tmp_path_factory):
    """tiny with both spaces (``--space all``), for the tests of every family.

    A tree of its own: ``nsdval run`` on ``tiny_tree`` would validate the surface too.
    """
    from nsdval.synth import synthesize

    root = tmp_path_factory.mktemp("nsd") / "tiny-all"
    return synthesize(root, preset="tiny", seed=0, space="all")


@pytest.fixture(scope="session")
def demo_tree(demo_all_tree):
    """demo: the same tree as ``demo_all_tree`` (one synthesis); its volume 8-subject files
    hold the values of the default demo tree."""
    return demo_all_tree


@pytest.fixture(scope="session")
def demo_all_tree(tmp_path_factory):
    """The demo tree with all four families (the only preset with subjects 1, 2, 5 and 7)."""
    from nsdval.synth import synthesize

    root = tmp_path_factory.mktemp("nsd") / "demo_all"
    return synthesize(root, preset="demo", space="all", variant="both", seed=0)


def _once_per_tree(score):
    """``get(root, region, family)`` calling ``score`` once per (tree, region, family)."""
    cache = {}

    def get(root, region, family=VOLUME):
        key = (str(root), region, family)
        if key not in cache:
            cache[key] = score(root, region, family)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def brainscore_scores():
    """``brainscore_scores(root, region, family)``: the real benchmark's numbers, cached."""
    return _once_per_tree(score_real_benchmark)


@pytest.fixture(scope="session")
def brainscore_rdm_scores():
    """``brainscore_rdm_scores(root, region, family)``: the real ``-rdm`` benchmark, once."""
    return _once_per_tree(score_real_rdm_benchmark)
