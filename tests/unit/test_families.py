"""Families: which assembly families a tree holds, how a run chooses them, where they live."""

import pytest

from nsdval.cli.types import parse_spaces, parse_variants
from nsdval.data.families import (
    Family,
    choose_families,
    discover_families,
    family_layout,
    family_of_key,
    family_subjects,
)
from nsdval.errors import ParameterError

VOLUME_8 = Family()
VOLUME_4 = Family("volume", "_4subj")
SURFACE_8 = Family("surface", "_8subj")
SURFACE_4 = Family("surface", "_4subj")


def tree(root, *names):
    """A packaging-layout tree whose Brain-Score folders hold the named files (empty)."""
    (root / "metadata").mkdir(parents=True)
    for name in names:
        folder = "brainscore_surface" if "_surface_" in name else "brainscore"
        (root / folder).mkdir(exist_ok=True)
        (root / folder / name).touch()
    return root


def test_a_family_is_found_by_its_brainscore_assemblies(tmp_path):
    root = tree(
        tmp_path / "nsd",
        "Allen2022_fmri_train_8subj.nc",
        "Allen2022_fmri_test_4subj.nc",
        "Allen2022_fmri_surface_train_8subj.nc",
        "Allen2022_fmri_surface_test_8subj.nc",
        "notes.txt",
        "Allen2022_fmri_train.nc",  # no variant: not a family
    )
    assert discover_families(root) == [VOLUME_8, VOLUME_4, SURFACE_8]


def test_a_surface_file_in_the_volume_folder_is_not_a_volume_family(tmp_path):
    root = tree(tmp_path / "nsd")
    (root / "brainscore").mkdir()
    (root / "brainscore" / "Allen2022_fmri_surface_train_8subj.nc").touch()
    assert discover_families(root) == []


def test_a_moved_brainscore_folder_is_searched_for_both_spaces(tmp_path):
    root = tree(tmp_path / "nsd")
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "Allen2022_fmri_surface_train_4subj.nc").touch()
    (moved / "Allen2022_fmri_train_8subj.nc").touch()
    assert discover_families(root, brainscore_dir=moved) == [VOLUME_8, SURFACE_4]


@pytest.mark.parametrize(
    ("spaces", "variants", "expected"),
    [
        (None, None, [VOLUME_8, VOLUME_4, SURFACE_8]),
        (("surface",), None, [SURFACE_8]),
        (None, ("4subj",), [VOLUME_4]),
        (("volume",), ("_8subj", "_4subj"), [VOLUME_8, VOLUME_4]),
        # asked for a family the tree lacks: planned, so that the run names the missing file
        (("surface",), ("_4subj",), [SURFACE_4]),
    ],
)
def test_choose_families_filters_by_space_and_variant(spaces, variants, expected):
    found = [VOLUME_8, VOLUME_4, SURFACE_8]
    assert choose_families(found, spaces=spaces, variants=variants) == expected


def test_with_no_family_found_the_default_one_is_planned():
    assert choose_families([]) == [VOLUME_8]
    assert choose_families([], spaces=("surface",), variants=("4subj",)) == [SURFACE_4]


def test_an_unknown_space_is_refused():
    with pytest.raises(ParameterError, match="'space'"):
        choose_families([VOLUME_8], spaces=("cortex",))


def test_keys_prefixes_and_names():
    assert [f.key for f in (VOLUME_8, SURFACE_4)] == ["volume_8subj", "surface_4subj"]
    assert (VOLUME_8.prefix, VOLUME_4.prefix) == ("", "volume_4subj")
    assert SURFACE_4.benchmark_name == "Allen2022_fmri_surface_4subj"
    assert VOLUME_8.benchmark_name == "Allen2022_fmri"
    assert SURFACE_8.label == "surface, 8 subjects"
    assert [family_of_key(f.key) for f in (VOLUME_4, SURFACE_8)] == [VOLUME_4, SURFACE_8]
    assert family_of_key(None) == VOLUME_8
    with pytest.raises(ParameterError):
        family_of_key("cortex_8subj")


def test_the_4subj_family_is_subjects_1_2_5_7():
    assert family_subjects(VOLUME_4, [1, 2, 3, 4, 5, 6, 7, 8]) == [1, 2, 5, 7]
    assert family_subjects(SURFACE_4, [1, 2]) == [1, 2, 5, 7]  # the run names the missing ones
    assert family_subjects(SURFACE_8, [2, 4]) == [2, 4]


def test_a_variant_keeps_its_own_benchmark_folder_beside_the_8subj_one(tmp_path):
    root = tree(tmp_path / "nsd", "Allen2022_fmri_train_8subj.nc", "Allen2022_fmri_train_4subj.nc")
    score = family_layout(root, VOLUME_4).score("V4")
    assert score == root / "benchmark_4subj" / "V4" / "score.json"
    assert family_layout(root, VOLUME_8).score("V4") == root / "benchmark" / "V4" / "score.json"
    surface = family_layout(root, SURFACE_4).score("IT")
    assert surface == root / "benchmark_surface" / "IT" / "score.json"  # no surface 8subj here


def test_a_tree_of_the_4subj_variant_alone_may_use_the_shared_benchmark_folder(tmp_path):
    root = tree(tmp_path / "nsd", "Allen2022_fmri_train_4subj.nc")
    assert family_layout(root, VOLUME_4).score("V1") == root / "benchmark" / "V1" / "score.json"
    (root / "benchmark_4subj").mkdir()
    assert family_layout(root, VOLUME_4).score("V1").parent.parent == root / "benchmark_4subj"


def test_space_and_variant_options_parse():
    assert parse_spaces("volume,surface") == ("volume", "surface")
    assert parse_spaces("all") is None and parse_variants("all") is None
    assert parse_variants("4subj") == ("_4subj",)
    for bad in ("cortex", ""):
        with pytest.raises(Exception, match="space"):
            parse_spaces(bad)
    for bad in ("", "4 subj"):
        with pytest.raises(Exception, match="variant"):
            parse_variants(bad)
