from pathlib import Path

import pytest

from nsdval.data.layout import NsdLayout, detect_layout, subject_label
from nsdval.errors import LayoutError, MissingInputError, ParameterError


@pytest.mark.parametrize(
    ("kind", "method", "args", "expected"),
    [
        ("packaging", "betas", (1, 3), "subj01/betas/betas_session03.hdf5"),
        ("packaging", "roi", (2, "prf-visualrois"), "subj02/rois/prf-visualrois.nii.gz"),
        ("packaging", "ncsnr", (8,), "subj08/betas/ncsnr.nii.gz"),
        ("packaging", "expdesign", (), "metadata/nsd_expdesign.mat"),
        (
            "official",
            "betas",
            (1, 40),
            "nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR/"
            "betas_session40.hdf5",
        ),
        (
            "official",
            "roi",
            (5, "lh.streams"),
            "nsddata/ppdata/subj05/func1pt8mm/roi/lh.streams.nii.gz",
        ),
        ("official", "expdesign", (), "nsddata/experiments/nsd/nsd_expdesign.mat"),
        ("official", "split_csv", (), "assemblies/train_test_split_8subj.csv"),
        ("packaging", "region_assembly", ("IT",), "assemblies/Allen2022.IT_8subj.nc"),
        ("packaging", "brainscore_assembly", ("test",), "brainscore/Allen2022_fmri_test_8subj.nc"),
        ("packaging", "activations", ("V4", "train"), "benchmark/V4/activations_train.nc"),
        ("official", "score", ("V1",), "benchmark/V1/score.json"),
        ("official", "rdm_score", ("IT",), "benchmark/IT/score_rdm.json"),
    ],
)
def test_paths_follow_the_documented_layouts(kind, method, args, expected):
    layout = NsdLayout(Path("/nsd"), kind)
    assert getattr(layout, method)(*args) == Path("/nsd") / expected


def test_overrides_move_assembly_folders_and_variant():
    layout = NsdLayout(Path("/nsd"), variant="_2subj", brainscore_dir=Path("/elsewhere"))
    assert layout.brainscore_assembly("train") == Path("/elsewhere/Allen2022_fmri_train_2subj.nc")
    assert layout.split_csv() == Path("/nsd/assemblies/train_test_split_2subj.csv")


def test_bad_region_and_split_name_the_allowed_values():
    layout = NsdLayout(Path("/nsd"))
    with pytest.raises(ParameterError, match="V1, V2, V4, IT.*'V3'"):
        layout.region_assembly("V3")
    with pytest.raises(ParameterError, match="train, test.*'val'"):
        layout.brainscore_assembly("val")


def test_detects_each_layout(tmp_path):
    (tmp_path / "a" / "nsddata").mkdir(parents=True)
    (tmp_path / "b" / "subj01").mkdir(parents=True)
    assert detect_layout(tmp_path / "a").kind == "official"
    assert detect_layout(tmp_path / "b").kind == "packaging"


def test_detect_refuses_missing_and_foreign_roots(tmp_path):
    with pytest.raises(MissingInputError, match="missing NSD root"):
        detect_layout(tmp_path / "nope")
    (tmp_path / "other").mkdir()
    with pytest.raises(LayoutError, match="neither NSD layout"):
        detect_layout(tmp_path / "other")


def test_discovers_subjects_and_sessions(tmp_path):
    for subject, sessions in ((1, (1, 2, 10)), (3, (1,))):
        folder = tmp_path / subject_label(subject) / "betas"
        folder.mkdir(parents=True)
        for session in sessions:
            (folder / f"betas_session{session:02d}.hdf5").touch()
        (folder / "ncsnr.nii.gz").touch()
    (tmp_path / "subj02").mkdir()  # no betas folder: not a subject
    layout = detect_layout(tmp_path)
    assert layout.subjects() == [1, 3]
    assert layout.sessions(1) == [1, 2, 10]
    with pytest.raises(MissingInputError, match="subj02/betas: missing betas folder"):
        layout.sessions(2)


def test_validate_names_the_first_missing_file(tmp_path):
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "nsd_expdesign.mat").touch()
    with pytest.raises(MissingInputError, match="train_test_split_8subj.csv: missing split CSV"):
        detect_layout(tmp_path).validate([1], ["V1"])
