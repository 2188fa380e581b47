"""NSD's published noise ceiling (``nsd-published-nc``): the computation and the check.

Expected values are computed here with plain numpy and nibabel (the ceiling written out, the
files read whole), never with nsdval's formula module; the synthetic tree's own expected
values come from its ``synth.json``.
"""

import json
import shutil
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest

from nsdval.analysis.noiseceiling import published
from nsdval.data.layout import NsdLayout
from nsdval.data.spaces import open_space

HEMIS = ("lh", "rh")


def ceiling_percent(ncsnr):
    """NSD's 3-trial noise ceiling, written out independently."""
    return 100.0 * ncsnr**2 / (ncsnr**2 + 1.0 / 3.0)


def ncsnr_for(percent):
    """The ncsnr whose 3-trial ceiling is ``percent``."""
    return np.sqrt(percent / (100.0 - percent) / 3.0)


class StubSpace:
    """A space whose nsdgeneral ncsnr is given per subject (``None``: no ncsnr files)."""

    def __init__(self, root, ncsnr):
        self.layout = SimpleNamespace(root=root)
        self.ncsnr = ncsnr

    def nsdgeneral_missing(self):
        return None

    def nsdgeneral_ncsnr(self, subject):
        return self.ncsnr.get(subject)


def check_of(space, subjects):
    return published.published_nc_check(published.published_ceiling(space, subjects))


# ------------------------------------------------------------------------ the computation


def test_a_subject_s_medians_skip_nan_and_are_counted(rng):
    ncsnr = rng.uniform(0.0, 1.5, size=101)
    ncsnr[[3, 50]] = np.nan
    got = published.subject_ceiling("subj01", ncsnr)
    finite = ncsnr[~np.isnan(ncsnr)]
    assert (got.vertices, got.non_finite) == (101, 2)
    assert got.median_ncsnr == pytest.approx(np.median(finite), abs=1e-15)
    assert got.median_nc == pytest.approx(np.median(ceiling_percent(finite)), abs=1e-12)
    none = published.subject_ceiling("subj02", np.full(4, np.nan))
    assert np.isnan(none.median_nc) and none.non_finite == 4


def test_the_mean_over_all_eight_subjects_is_held_to_36_20(tmp_path, rng):
    # every subject's median ceiling 36.20 % exactly: its median ncsnr is ncsnr_for(36.20)
    centre = ncsnr_for(published.PUBLISHED_MEAN)
    values = {
        s: np.concatenate(
            [[centre], centre - rng.uniform(0.01, 0.3, 6), centre + rng.uniform(0, 1, 6)]
        )
        for s in range(1, 9)
    }
    result = check_of(StubSpace(tmp_path, values), range(1, 9))
    assert (result.name, result.status) == ("nsd-published-nc", "pass")
    assert result.value == pytest.approx(36.20, abs=1e-9) and result.threshold == 36.20
    assert result.section == published.SECTION
    # one subject's median 0.08 points higher: the mean moves by 0.01 > 0.005
    values[3] = np.full(5, ncsnr_for(36.28))
    result = check_of(StubSpace(tmp_path, values), range(1, 9))
    assert result.status == "fail"
    assert "36.2100 % vs 36.20 % (NSD's published value)" in result.detail
    assert "|diff| 0.0100 > 0.005" in result.detail
    values[3] = np.full(5, ncsnr_for(36.232))  # mean 36.204: within half the last decimal
    assert check_of(StubSpace(tmp_path, values), range(1, 9)).status == "pass"


def test_fewer_subjects_compare_each_median_ncsnr_and_call_the_mean_not_comparable(tmp_path):
    values = {1: np.array([0.2, 0.490, 0.9]), 2: np.array([0.5101, 0.4, 0.6]), 3: None}
    result = check_of(StubSpace(tmp_path, values), [1, 2, 3])
    assert result.status == "pass", result.detail
    assert "2 subjects (subj01, subj02; no ncsnr files: subj03) measured" in result.detail
    assert "not comparable with 36.20 %" in result.detail
    assert "2 of 2 match (subj01 0.4900 vs 0.490, subj02 0.5101 vs 0.510)" in result.detail
    values[2] = np.array([0.512, 0.4, 0.6])
    result = check_of(StubSpace(tmp_path, values), [1, 2, 3])
    assert (result.name, result.status, result.value) == ("nsd-published-nc", "fail", 1)
    assert "subj02 0.5120 vs 0.510 (differs)" in result.detail


def test_without_labels_ncsnr_or_an_expected_value_the_check_does_not_apply(tmp_path):
    volume = open_space(NsdLayout(tmp_path, "packaging"))
    result = check_of(volume, [1, 2])
    assert result.status == "pass"
    assert result.detail.startswith("not applicable: the volume space has no fsaverage")
    surface = open_space(NsdLayout(tmp_path, "packaging", space="surface"))
    assert "not applicable: no {lh,rh}.nsdgeneral.mgz in" in check_of(surface, [1]).detail
    stub = StubSpace(tmp_path, {})
    assert check_of(stub, [1, 2]).detail == (
        "not applicable: no subject of the assemblies has ncsnr files"
    )
    (tmp_path / "synth.json").write_text(json.dumps({"preset": "full", "surface": {}}))
    result = check_of(StubSpace(tmp_path, {1: np.ones(3)}), [1])
    assert result.status == "pass" and "carries no expected value" in result.detail
    assert published.subject_table(published.published_ceiling(volume, [1])).empty


# ---------------------------------------------------------------- on the synthetic tree


def independent_nc(root, subject):
    """The median ceiling over nsdgeneral from whole nibabel reads."""
    parts = []
    for hemi in HEMIS:
        general = nib.load(root / "fsaverage_labels" / f"{hemi}.nsdgeneral.mgz").get_fdata()
        ncsnr = nib.load(root / f"subj{subject:02d}" / "betas" / f"{hemi}.ncsnr.mgh").get_fdata()
        parts.append(np.ravel(ncsnr)[np.ravel(general) > 0])
    values = np.concatenate(parts)
    return np.median(ceiling_percent(values[np.isfinite(values)]))


def ncsnr_tree(source, target):
    """A copy of what the check reads: nsdgeneral labels, ncsnr files, synth.json."""
    for path in source.rglob("*"):
        if path.name.endswith(("nsdgeneral.mgz", ".ncsnr.mgh")) or path.name == "synth.json":
            copy = target / path.relative_to(source)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
    return target


def surface_check(root, subjects=(1, 2)):
    space = open_space(NsdLayout(root, "packaging", space="surface"))
    ceiling = published.published_ceiling(space, subjects)
    return published.published_nc_check(ceiling), published.subject_table(ceiling)


def test_the_clean_synthetic_tree_matches_its_own_expected_value(tiny_surface_tree):
    root = tiny_surface_tree
    truth = json.loads((root / "synth.json").read_text())["surface"]
    result, table = surface_check(root)
    assert (result.name, result.status) == ("nsd-published-nc", "pass"), result.detail
    mean = np.mean([independent_nc(root, s) for s in (1, 2)])
    assert result.value == pytest.approx(mean, abs=1e-6)
    assert result.threshold == truth["nsdgeneral_nc_mean"]
    assert "the synthetic tree's synth.json" in result.detail
    for subject in (1, 2):
        label = f"subj{subject:02d}"
        assert table.loc[label, "median nc %"] == pytest.approx(independent_nc(root, subject))
        assert (
            table.loc[label, "expected median nc %"] == truth["subjects"][label]["nsdgeneral_nc"]
        )
    assert table["vertices"].tolist() == [sum(truth["nsdgeneral_vertices"].values())] * 2
    result, _ = surface_check(root, subjects=(2,))  # not every subject: each on its own
    assert result.status == "pass" and "not comparable" in result.detail


def altered_ncsnr(root):
    path = root / "subj02" / "betas" / "lh.ncsnr.mgh"
    image = nib.load(path)
    data = np.asarray(image.get_fdata(), dtype=np.float32) * np.float32(1.2)
    nib.save(nib.MGHImage(data, image.affine, image.header), path)


def swapped_labels(root):
    folder = root / "fsaverage_labels"
    lh, rh = (folder / f"{h}.nsdgeneral.mgz" for h in HEMIS)
    lh.rename(folder / "tmp.mgz")
    rh.rename(lh)
    (folder / "tmp.mgz").rename(rh)


def corrupted_label(root):
    path = root / "fsaverage_labels" / "rh.nsdgeneral.mgz"
    image = nib.load(path)
    data = np.asarray(image.get_fdata(), dtype=np.float32)
    data[np.flatnonzero(data.ravel() > 0)[::2]] = 0  # half the mask gone
    nib.save(nib.MGHImage(data, image.affine, image.header), path)


@pytest.mark.parametrize("alter", [altered_ncsnr, swapped_labels, corrupted_label])
def test_an_altered_ncsnr_or_label_fails_the_check(tiny_surface_tree, tmp_path, alter):
    root = ncsnr_tree(tiny_surface_tree, tmp_path / "nsd")
    alter(root)
    result, _ = surface_check(root)
    expected = json.loads((root / "synth.json").read_text())["surface"]["nsdgeneral_nc_mean"]
    assert (result.name, result.status) == ("nsd-published-nc", "fail")
    assert f"vs {expected:.4f} % (the synthetic tree's synth.json)" in result.detail


def test_a_synthetic_tree_is_never_the_published_value_nor_checked_without_labels(
    tiny_surface_tree, tmp_path
):
    root = ncsnr_tree(tiny_surface_tree, tmp_path / "nsd")
    (root / "synth.json").unlink()  # now held to NSD's real per-subject values: far off
    result, table = surface_check(root)
    assert result.status == "fail" and "0 of 2 match" in result.detail
    assert table.columns[-1] == "expected median ncsnr"
    for hemi in HEMIS:
        (root / "fsaverage_labels" / f"{hemi}.nsdgeneral.mgz").unlink()
    result, _ = surface_check(root)
    assert result.status == "pass" and result.detail.startswith("not applicable: no {lh,rh}")
