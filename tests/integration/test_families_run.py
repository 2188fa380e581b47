"""One `nsdval run` over a tree of every family: discovery, ids, index, rerun, release.

The demo preset is the only one with subjects 1, 2, 5 and 7, so it is the one tree that can
hold all four families (volume and surface, 8 and 4 subjects); the runs keep to one region
and two subjects to stay small. Each planted 4-subject fault fails its named checks when
`run` finds the 4-subject family by itself.
"""

import json
import re

import numpy as np
import pytest

from nsdval.analysis import cache, extraction
from nsdval.cli import main
from nsdval.data import watched
from nsdval.data.expdesign import load_expdesign
from nsdval.data.families import family_layout, family_of_key
from nsdval.data.layout import SPACES
from nsdval.data.spaces import open_space
from nsdval.run import inputs
from nsdval.synth import VARIANT_FAULTS

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo_trees")]

FAMILIES = ("volume_8subj", "volume_4subj", "surface_8subj", "surface_4subj")
SMALL = ("--regions", "V4", "--subjects", "1,5", "--jobs", "2", "-q")

# fault -> checks that must fail (the 4-subject family alone: subject 5, V4)
FAULT_CHECKS = {
    "4subj-8subj-split": {"split-seed"},
    "4subj-515-images": {"split-complete", "V4-images", "images-match-design"},
    "4subj-global-z-train-only": {"train-values", "test-mean-values"},
}


def run(root, out, *options):
    code = main(["run", "--nsd-root", str(root), "--out", str(out), *options])
    return code, json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def first_run(demo_every_family, tmp_path_factory):
    """The run of every family, and the extractions it launched: (space, subject, family keys)."""
    out = tmp_path_factory.mktemp("families") / "out"
    real, launched = watched.run_watched, []

    def recording(calls, **kwargs):
        for fn, call, _ in calls:
            if fn is inputs._extract_subject:
                keys = tuple(f"{lay.space}{lay.variant}" for lay in call["layouts"])
                launched.append((call["layouts"][0].space, call["subject"], keys))
        return real(calls, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(watched, "run_watched", recording)
        code, results = run(demo_every_family, out, *SMALL)
    return demo_every_family, out, code, results, launched


@pytest.fixture(scope="module")
def every_family(first_run):
    return first_run[:4]


def test_one_run_validates_every_family_found(every_family):
    root, out, code, results = every_family
    assert code == 0 and results["status"] == "pass"
    by_family = {}
    for record in results["reports"]:
        by_family.setdefault(record["family"], []).append(record)
    assert tuple(by_family) == FAMILIES
    # the 8-subject families validate subjects 1 and 5, the 4-subject ones too (1, 2, 5, 7)
    for family, records in by_family.items():
        scopes = sorted((r["subject"], r["region"]) for r in records if r["subject"])
        assert [r["region"] for r in records if r["template"] == "benchmark_rdm"] == ["V4"]
        assert scopes == [("subj01", "V4"), ("subj05", "V4")], family
        space, _, variant = family.partition("_")
        assert {(r["parameters"]["space"], r["parameters"]["variant"]) for r in records} == {
            (space, f"_{variant}")
        }
        prefix = "" if family == "volume_8subj" else f"{family}/"
        assert {r["html"] for r in records} == {
            f"{prefix}structure/assembly_structure.html",
            f"{prefix}subj01/V4/assembly_validation.html",
            f"{prefix}subj05/V4/assembly_validation.html",
            f"{prefix}rdm/V4/benchmark_rdm.html",
        }
        assert all((out / r["html"]).is_file() for r in records)
    # each family's structure report carried its own benchmark summary
    assert set(results["families"]) == set(FAMILIES)
    names = {f: results["families"][f]["V4"]["benchmark"] for f in FAMILIES}
    assert names == {
        "volume_8subj": "Allen2022_fmri.V4-ridge",
        "volume_4subj": "Allen2022_fmri_4subj.V4-ridge",
        "surface_8subj": "Allen2022_fmri_surface.V4-ridge",
        "surface_4subj": "Allen2022_fmri_surface_4subj.V4-ridge",
    }
    assert results["benchmark"] == results["families"]["volume_8subj"]


def never_extract(*args, **kwargs):
    raise AssertionError("a report would extract: the run's cache lacks its region or images")


def space_layouts(root, space):
    return [family_layout(root, family_of_key(f"{space}{v}")) for v in ("_8subj", "_4subj")]


def test_each_subject_of_a_space_is_read_once_for_both_families(first_run):
    root, out, _, _, launched = first_run
    assert sorted(launched) == [
        (space, subject, (f"{space}_8subj", f"{space}_4subj"))
        for space in sorted(SPACES)
        for subject in (1, 5)
    ]
    cache_dir = out / ".cache"
    found = sorted(cache_dir.glob("*.npz"))
    assert len(found) == 4  # one per space and subject, not one per family
    reads = cache.read_digests(cache_dir)
    for space_name in SPACES:
        layouts = space_layouts(root, space_name)
        space = open_space(layouts[0])
        union = cache.union_reference_ids(layouts)
        for subject in (1, 5):
            path = cache.cache_file(cache_dir, space, subject)
            assert path in found
            np.testing.assert_array_equal(cache.contents(path)[1], union)
            for session in space.sessions(subject):
                for betas in space.session_paths(subject, session):
                    assert str(betas.resolve()) in reads
    volume = open_space(space_layouts(root, "volume")[0])
    listed = json.loads((out / "manifest.json").read_text())["inputs"]
    betas = [e for e in listed if e["path"].endswith(".hdf5")]
    assert len(betas) == sum(len(volume.sessions(s)) for s in (1, 5))
    assert all("read_sha256" in e for e in betas)
    surface = open_space(space_layouts(root, "surface")[0])
    mgh = [e for e in listed if ".betas_session" in e["path"] and e["path"].endswith(".mgh")]
    assert len(mgh) == 2 * sum(len(surface.sessions(s)) for s in (1, 5))
    assert all("read_sha256" in e and "sha256" not in e for e in mgh)  # never hashed whole


def test_each_familys_reports_find_their_images_in_the_one_extraction(first_run, monkeypatch):
    root, out, _, results, _ = first_run
    assert {r["status"] for r in results["reports"]} == {"pass"}
    monkeypatch.setattr(extraction, "extract_subject", never_extract)
    for family in FAMILIES:
        layout = family_layout(root, family_of_key(family))
        space = open_space(layout)
        design = load_expdesign(layout.expdesign())
        ids = cache.reference_ids(space, design)
        for subject in (1, 5):
            found = cache.region_extraction(space, design, subject, "V4", ids, out / ".cache")
            np.testing.assert_array_equal(found.nsd_ids, ids)


def test_the_index_shows_the_families_grid_and_a_section_per_family(every_family):
    _, out, _, results = every_family
    page = (out / "index.html").read_text()
    grid = page[page.index('class="families"') :]
    grid = grid[: grid.index("</table>")]
    assert re.findall(r"<th>([^<]+)</th>", grid) == [
        "space",
        "8subj",
        "4subj",
        "volume",
        "surface",
    ]
    assert grid.count('data-family="') == 4
    for family in FAMILIES:
        anchor = "" if family == "volume_8subj" else f"{family}-"
        assert f'id="{anchor}family"' in page and f'id="{anchor}benchmark"' in page
        assert (
            f'<table class="matrix" data-template="assembly_validation" data-family="{family}"'
            in page
        )


def test_a_second_run_is_unchanged_and_a_rerun_keeps_the_family(every_family, capsys):
    root, out, _, first = every_family
    capsys.readouterr()
    code, again = run(root, out, *SMALL)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert code == 0 and len(lines) == len(first["reports"])
    assert all(line.endswith("unchanged") for line in lines)
    assert (
        main(["rerun", str(out / "surface_4subj" / "subj05" / "V4"), "-p", "tolerance=1e-4"]) == 0
    )
    results = json.loads((out / "results.json").read_text())
    (record,) = [r for r in results["reports"] if r["rerun"]]
    assert record["id"] == "surface_4subj-subj05-V4-assembly_validation"
    assert record["family"] == "surface_4subj" and record["parameters"]["space"] == "surface"


def test_an_archive_of_every_family_verifies_and_compares_equal(every_family, tmp_path):
    root, out, _, _ = every_family
    folder = tmp_path / "release"
    assert main(["archive", str(out), "--release", "v-families", "--out", str(folder)]) == 0
    (archive,) = folder.glob("*.tar.gz")
    assert main(["verify", str(archive), "--nsd-root", str(root)]) == 0
    assert main(["compare", str(archive), str(out), "--html", str(tmp_path / "c.html")]) == 0


def test_space_and_variant_choose_families(every_family, tmp_path):
    root = every_family[0]
    code, results = run(root, tmp_path / "o", "--space", "surface", "--variant", "4subj", *SMALL)
    assert code == 0
    assert {r["family"] for r in results["reports"]} == {"surface_4subj"}


def test_every_4subj_fault_is_listed_here():
    assert set(FAULT_CHECKS) == set(VARIANT_FAULTS)


@pytest.mark.parametrize("fault", sorted(FAULT_CHECKS))
def test_a_4subj_fault_fails_its_named_checks(four_subject_fault_tree, tmp_path, fault):
    root = four_subject_fault_tree(fault)
    options = ("--regions", "V4", "--subjects", "5", "--reports", "structure,validation", "-q")
    code, results = run(root, tmp_path / "out", *options)
    assert code == 1
    assert {r["family"] for r in results["reports"]} == {"volume_4subj"}
    failing = {c["name"] for r in results["reports"] for c in r["checks"] if c["status"] == "fail"}
    assert FAULT_CHECKS[fault] <= failing
