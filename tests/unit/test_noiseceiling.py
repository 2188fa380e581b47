import nibabel as nib
import numpy as np
import pytest

from nsdval.analysis.noiseceiling import comparison as noiseceiling
from nsdval.analysis.noiseceiling import formula
from nsdval.data.volume.space import VolumeSpace
from nsdval.errors import InputError


class Layout:
    """Only what the volume space's ncsnr reader asks of a layout."""

    def __init__(self, folder):
        self.folder = folder

    def ncsnr(self, subject):
        return self.folder / f"subj{subject:02d}" / "ncsnr.nii.gz"


def write_volume(path, volume_zyx):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.ascontiguousarray(volume_zyx.T), np.eye(4)), path)


@pytest.fixture
def volume(rng):
    zyx = rng.uniform(0.1, 2.0, size=(4, 5, 6)).astype(np.float32)
    zyx[0] = np.nan  # outside the brain
    return zyx


COORDS = np.array([[1, 2, 3], [3, 4, 5], [2, 0, 1]])


def test_volume_is_read_at_the_voxel_coordinates_of_the_hdf5_axes(tmp_path, volume):
    write_volume(tmp_path / "subj01" / "ncsnr.nii.gz", volume)
    got = VolumeSpace(Layout(tmp_path)).read_ncsnr(1, COORDS)
    np.testing.assert_array_equal(got, volume[COORDS[:, 0], COORDS[:, 1], COORDS[:, 2]])


def test_unreadable_or_mismatched_volumes_are_input_errors(tmp_path, volume):
    space = VolumeSpace(Layout(tmp_path))
    assert space.read_ncsnr(2, COORDS) is None  # no file: nothing to compare
    bad = tmp_path / "subj01" / "ncsnr.nii.gz"
    bad.parent.mkdir()
    bad.write_bytes(b"not nifti")
    with pytest.raises(InputError, match="ncsnr.nii.gz: not a readable NIfTI"):
        space.read_ncsnr(1, COORDS)
    write_volume(bad, volume)
    with pytest.raises(InputError, match="outside the volume"):
        space.read_ncsnr(1, [[4, 0, 0]])


def test_three_noise_ceilings_agree_and_the_checks_pass(tmp_path, volume):
    write_volume(tmp_path / "subj01" / "ncsnr.nii.gz", volume)
    snr = volume[COORDS[:, 0], COORDS[:, 1], COORDS[:, 2]].astype(np.float64)
    stored = formula.noise_ceiling_percent(snr)
    nc = noiseceiling.compare_noise_ceilings(
        VolumeSpace(Layout(tmp_path)), 1, coords=COORDS, ncsnr=snr + 1e-9, assembly_nc=stored
    )
    results = noiseceiling.noise_ceiling_checks(nc, tolerance=0.01)
    assert [(r.name, r.status) for r in results] == [
        ("ncsnr-volume", "pass"),
        ("nc-testset-volume", "pass"),
    ]
    table = noiseceiling.summary_table(nc)
    assert list(table.index) == ["raw betas (recomputed)", "assembly nc_testset", "ncsnr.nii.gz"]
    assert table["voxels"].tolist() == [3, 3, 3]
    assert table.loc["ncsnr.nii.gz", "max |diff| vs betas"] < 1e-6


def test_a_wrong_nc_testset_fails_against_the_volume(tmp_path, volume):
    write_volume(tmp_path / "subj01" / "ncsnr.nii.gz", volume)
    snr = volume[COORDS[:, 0], COORDS[:, 1], COORDS[:, 2]].astype(np.float64)
    single_trial = np.nan_to_num(100 * snr**2 / (snr**2 + 1.0))
    nc = noiseceiling.compare_noise_ceilings(
        VolumeSpace(Layout(tmp_path)), 1, coords=COORDS, ncsnr=snr, assembly_nc=single_trial
    )
    status = {r.name: r.status for r in noiseceiling.noise_ceiling_checks(nc, tolerance=0.01)}
    assert status == {"ncsnr-volume": "pass", "nc-testset-volume": "fail"}


def test_without_a_volume_one_passing_note(tmp_path):
    snr = np.array([0.5, 1.0])
    nc = noiseceiling.compare_noise_ceilings(
        VolumeSpace(Layout(tmp_path)), 3, coords=COORDS[:2], ncsnr=snr, assembly_nc=np.zeros(5)
    )
    assert nc.volume is None and nc.assembly.size == 0  # neuroids are not the ROI voxels
    [result] = noiseceiling.noise_ceiling_checks(nc, tolerance=0.01)
    assert result.status == "pass" and "no ncsnr file" in result.detail
    assert list(noiseceiling.summary_table(nc).index) == [
        "raw betas (recomputed)",
        "assembly nc_testset",
    ]


def test_noise_ceiling_snr_matches_the_nsd_definition(rng):
    signal = rng.normal(size=(1, 30, 4))
    reps = signal + rng.normal(scale=[0.3, 0.6, 1.0, 3.0], size=(3, 30, 4))
    z = reps  # already on a comparable scale
    v = np.sqrt(np.mean([np.var(z[:, i, :], axis=0, ddof=1) for i in range(30)], axis=0))
    expected = np.sqrt(np.maximum(1 - v**2, 0)) / v
    np.testing.assert_allclose(formula.noise_ceiling_snr(z), expected)
    nc = formula.noise_ceiling_percent(expected)
    np.testing.assert_allclose(nc, 100 * expected**2 / (expected**2 + 1 / 3))
    assert expected[-1] == 0 and nc[-1] == 0  # noise variance above 1 -> no ceiling
