"""One `nsdval run` over a tree of every family: discovery, ids, index, rerun, release.

The demo preset is the only one with subjects 1, 2, 5 and 7, so it is the one tree that can
hold all four families (volume and surface, 8 and 4 subjects); the runs keep to one region
and two subjects to stay small. Each planted 4-subject fault fails its named checks when
`run` finds the 4-subject family by itself.
"""

import json
import re

import pytest

from nsdval.cli import main
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
def every_family(demo_every_family, tmp_path_factory):
    out = tmp_path_factory.mktemp("families") / "out"
    code, results = run(demo_every_family, out, *SMALL)
    return demo_every_family, out, code, results


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
