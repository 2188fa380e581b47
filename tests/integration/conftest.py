import pytest


@pytest.fixture(scope="session")
def tiny_tree(tmp_path_factory):
    """The tiny synthetic NSD tree, generated once per test session (and per xdist worker)."""
    from nsdval.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("nsd") / "tiny", preset="tiny", seed=0)
