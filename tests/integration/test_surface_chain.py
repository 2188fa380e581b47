"""The surface reader and the NaN-aware chain rebuild the synthetic surface assemblies.

The tree comes from nsdval's independent generator (``--space surface``), whose packager
shares no code with the chain; here the raw MGH betas are read through ``SurfaceSpace``, run
through the extraction and the chain with the surface packaging's NaN rules, and compared
with every Brain-Score surface value, each test repetition, ``nc_testset`` and NSD's
``{lh,rh}.ncsnr.mgh``.
"""

from dataclasses import replace

import numpy as np
import pytest

from nsdval.analysis import chain, extraction
from nsdval.analysis.noiseceiling import comparison, formula
from nsdval.data import assemblies
from nsdval.data.expdesign import load_expdesign
from nsdval.data.layout import REGIONS, detect_layout
from nsdval.data.spaces import open_space

pytestmark = pytest.mark.slow

TOLERANCE = 1e-5  # the assemblies are float32


@pytest.fixture(scope="module")
def surface(tmp_path_factory):
    from nsdval.synth import synthesize

    root = synthesize(tmp_path_factory.mktemp("nsd") / "surface", preset="tiny", space="surface")
    space = open_space(replace(detect_layout(root), space="surface"))
    design = load_expdesign(space.layout.expdesign())
    units = space.unit_coords
    train = assemblies.load_brainscore_assembly(space.layout, "train", units)
    test = assemblies.load_brainscore_assembly(space.layout, "test", units)
    subjects = assemblies.assembly_subjects(train)
    ids = extraction.reference_images(space, design, subjects)
    return space, design, train, test, ids, subjects


def block(array, subject, region):
    mask = assemblies.neuroid_mask(array, subject=f"subj{subject:02d}", region=region)
    return array.isel(neuroid=np.flatnonzero(mask))


def test_the_tree_holds_nan_where_the_rules_matter(surface):
    space, design, _, _, ids, _ = surface
    ext = extraction.extract_subject(space, design, 1, ["V1"], ids)["V1"]
    assert np.isnan(ext.session_z).any()  # else the NaN rules would not be exercised


@pytest.mark.parametrize("region", REGIONS)
def test_every_value_is_rebuilt_from_the_mgh_betas(surface, region):
    space, design, train, test, ids, subjects = surface
    for subject in subjects:
        ext = extraction.extract_subject(space, design, subject, [region], ids)[region]
        tr, te = block(train, subject, region), block(test, subject, region)
        np.testing.assert_array_equal(space.assembly_units(tr), ext.coords)
        averaged = chain.mean_over_repetitions(ext.session_z, skipna=True)
        global_z, reps_z = chain.global_zscore(averaged, ext.session_z, skipna=True)
        train_ids = np.asarray(tr["nsd_id"].values, dtype=np.int64)
        rows = assemblies.row_positions(train_ids, ext.nsd_ids)
        np.testing.assert_allclose(
            global_z[rows], tr.values[:, :, 0], atol=TOLERANCE, err_msg=f"{subject} train"
        )
        test_ids = np.unique(np.asarray(te["nsd_id"].values, dtype=np.int64))
        stored = assemblies.repetition_values(te, test_ids)
        rows = assemblies.row_positions(test_ids, ext.nsd_ids)
        np.testing.assert_allclose(reps_z[:, rows], stored, atol=TOLERANCE, err_msg="test reps")
        nc = formula.noise_ceiling_percent(ext.ncsnr, nan_to_zero=False)
        assembly_nc = np.asarray(tr["nc_testset"].values, dtype=np.float64)
        np.testing.assert_allclose(nc, assembly_nc, atol=1e-3, equal_nan=True)
        shipped = space.read_ncsnr(subject, ext.coords)
        np.testing.assert_allclose(ext.ncsnr, shipped, atol=1e-5, equal_nan=True)


def test_the_per_repetition_filling_shows_in_the_test_values(surface):
    space, design, _, test, ids, subjects = surface
    differing = 0
    for subject in subjects:
        for region in REGIONS:
            ext = extraction.extract_subject(space, design, subject, [region], ids)[region]
            averaged = chain.mean_over_repetitions(ext.session_z, skipna=True)
            global_z, reps_z = chain.global_zscore(averaged, ext.session_z, skipna=True)
            differing += int(np.sum(np.abs(reps_z.mean(axis=0) - global_z) > TOLERANCE))
    assert differing > 0  # train-style mean != mean of the filled test repetitions somewhere


def test_the_noise_ceiling_comparison_keeps_nan_on_the_surface(surface):
    space, design, train, _, ids, _ = surface
    ext = extraction.extract_subject(space, design, 1, ["V1"], ids)["V1"]
    assembly_nc = np.asarray(block(train, 1, "V1")["nc_testset"].values, dtype=np.float64)
    nc = comparison.compare_noise_ceilings(
        space, 1, coords=ext.coords, ncsnr=ext.ncsnr, assembly_nc=assembly_nc
    )
    np.testing.assert_allclose(nc.recomputed, nc.volume, atol=1e-3, equal_nan=True)
