"""Brain-Score's own ``-rdm`` benchmarks on the synthetic trees equal nsdval's replica.

For every assembly family a synthetic tree holds (the volume and surface 8-subject files of
a tiny tree with both spaces, the 4-subject files of the demo tree), Brain-Score's
``RSABenchmark`` is built by its ``Allen2022fmriRSA`` / ``Allen2022fmriSurfaceRSA`` factory
with only ``load_dataset`` pointed at the tree, and scores a stand-in model returning the
tree's activations; ``nsdval.analysis.rsa.score_rsa`` scores arrays read from the same files."""

import json

import numpy as np
import pytest
from peer_helpers import (
    RDM_KEYS,
    RDM_TOLERANCE,
    REGIONS,
    VOLUME,
    rdm_gaps,
    rdm_record_gaps,
    rdm_replica,
)

from nsdval.data.families import Family, family_layout

SURFACE, VOLUME_4 = Family("surface"), Family("volume", "_4subj")
TREES = {VOLUME: "tiny_all_tree", SURFACE: "tiny_all_tree", VOLUME_4: "demo_tree"}
CASES = [(family, region) for family in TREES for region in REGIONS]


@pytest.mark.parametrize(("family", "region"), CASES)
def test_the_real_rdm_benchmark_equals_the_replica(request, family, region, brainscore_rdm_scores):
    root = request.getfixturevalue(TREES[family])
    theirs = brainscore_rdm_scores(root, region, family)
    assert theirs["benchmark"] == f"{family.benchmark_name}.{region}-rdm"
    ours = rdm_replica(root, region, family)
    gaps = rdm_gaps(ours, theirs)
    print(family, region, "largest difference:", max(gaps.values()))
    assert max(gaps.values()) <= RDM_TOLERANCE, gaps
    numbers = [theirs[key] for key in RDM_KEYS]
    assert np.isfinite(numbers).all(), theirs
    assert -1 <= ours.lower_bound_loo <= ours.ceiling <= 1
    if family.variant == "_4subj":
        assert list(theirs["subjects"]) == ["subj01", "subj02", "subj05", "subj07"]


@pytest.mark.parametrize(("family", "region"), CASES)
def test_the_reported_score_rdm_json_equals_brainscore(
    request, family, region, brainscore_rdm_scores
):
    root = request.getfixturevalue(TREES[family])
    path = family_layout(root, family).rdm_score(region)
    reported = json.loads(path.read_text())
    assert set(reported) == {*RDM_KEYS, "benchmark", "model", "subjects"}
    theirs = brainscore_rdm_scores(root, region, family)
    assert reported["benchmark"] == theirs["benchmark"]
    gaps = rdm_record_gaps(reported, theirs)
    assert max(gaps.values()) <= RDM_TOLERANCE, gaps
