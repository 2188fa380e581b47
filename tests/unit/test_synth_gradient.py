"""The region hierarchy planted in the synthetic tree: V1-V2-V4-IT RDMs form a gradient.

Computed here from the Brain-Score assemblies with pandas, ``np.corrcoef`` and
``scipy.stats.spearmanr``, not with nsdval's analysis (:mod:`nsdval.analysis.rdm_sanity`) nor
the generator's scorer: each region's neuroids with ``nc_testset > 30``, train images plus
the test images' repetition means sorted by ``stimulus_id``, one RDM (1 - Pearson r) per
subject, the subjects' mean RDM per region, Spearman of upper triangles between regions.
"""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.stats import spearmanr

NEIGHBOURS = [("V1", "V2"), ("V2", "V4"), ("V4", "IT")]
DISTANT = ("V1", "IT")
# family -> Brain-Score folder and file prefix (8 subjects: tiny has 2)
FAMILIES = {
    "volume": ("brainscore", "Allen2022_fmri"),
    "surface": ("brainscore_surface", "Allen2022_fmri_surface"),
}


def assemblies(root, family):
    folder, prefix = FAMILIES[family]
    found = []
    for split in ("train", "test"):
        path = root / folder / f"{prefix}_{split}_8subj.nc"
        with xr.open_dataarray(path, engine="h5netcdf") as array:
            found.append(array.load())
    return found


def table(array, keep):
    values = np.asarray(array.values, dtype=np.float64)[:, keep, 0]
    return pd.DataFrame(values, index=array["stimulus_id"].values)


def mean_triangles(train, test, swap=()):
    """Region -> subject-mean RDM upper triangle; ``swap`` exchanges two regions' labels."""
    region = train["region"].values.astype(object)
    if swap:
        a, b = swap
        region = np.where(region == a, b, np.where(region == b, a, region))
    means = {}
    for name in ("V1", "V2", "V4", "IT"):
        keep = (region == name) & (train["nc_testset"].values > 30)
        tested = table(test, keep).groupby(level=0).mean()
        rows = pd.concat([table(train, keep), tested]).sort_index(kind="mergesort")
        subjects = train["subject"].values[keep]
        rdms = [1 - np.corrcoef(rows.loc[:, subjects == s].values) for s in np.unique(subjects)]
        means[name] = np.mean(rdms, axis=0)[np.triu_indices(rows.shape[0], k=1)]
    return means


def similarity(means, a, b):
    return spearmanr(means[a], means[b]).statistic


@pytest.mark.parametrize("family", FAMILIES)
def test_neighbouring_regions_are_more_alike_than_v1_and_it(clean_all, family):
    means = mean_triangles(*assemblies(clean_all, family))
    distant = similarity(means, *DISTANT)
    neighbours = [similarity(means, *pair) for pair in NEIGHBOURS]
    # planted: a Gaussian band of latents per region; tiny gives about 0.5 against 0.1
    assert min(neighbours) > distant + 0.2, (neighbours, distant)
    # and it falls off with distance along the stream
    assert similarity(means, "V1", "V4") < min(neighbours[:2])
    assert similarity(means, "V2", "IT") < min(neighbours[1:])


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("swap", [("V2", "IT"), ("V1", "V4")])
def test_swapped_region_labels_break_the_gradient(clean_all, family, swap):
    # a region two steps from its place: a "neighbouring" pair is the stream's two ends
    means = mean_triangles(*assemblies(clean_all, family), swap=swap)
    distant = similarity(means, *DISTANT)
    assert min(similarity(means, *pair) for pair in NEIGHBOURS) < distant - 0.2
