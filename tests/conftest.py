import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)


@pytest.fixture(scope="session")
def demo_every_family(tmp_path_factory):
    """The demo tree of all four families (read-only): the one preset with subjects 1, 2, 5, 7.

    The modules that use it carry ``pytest.mark.xdist_group("demo_trees")``, so that with
    ``--dist loadgroup`` (``make test``) one worker builds it once.
    """
    from nsdval.synth import synthesize

    root = tmp_path_factory.mktemp("demo-every-family") / "nsd"
    return synthesize(root, preset="demo", space="all", variant="both")


def fault_trees(tmp_path_factory, **options):
    """``get(fault)``: the tree ``synthesize(**options)`` writes with one planted fault, built
    once per fault in the session (read-only)."""
    from nsdval.synth import synthesize

    built = {}

    def get(fault):
        if fault not in built:
            root = tmp_path_factory.mktemp(fault) / "nsd"
            built[fault] = synthesize(root, fault=fault, **options)
        return built[fault]

    return get


@pytest.fixture(scope="session")
def four_subject_fault_tree(tmp_path_factory):
    """``four_subject_fault_tree(fault)``: a demo tree of the 4-subject files alone."""
    return fault_trees(tmp_path_factory, preset="demo", variant="4subj")


@pytest.fixture(scope="session")
def rdm_fault_tree(tmp_path_factory):
    """``rdm_fault_tree(fault)``: the tiny volume-and-surface tree."""
    return fault_trees(tmp_path_factory, preset="tiny", space="all")


# tests/peer runs only in the Brain-Score environment, on its own: `make peer`.
collect_ignore = ["peer"]
