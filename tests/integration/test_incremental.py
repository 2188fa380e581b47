"""A run into an existing folder executes only the reports whose inputs changed."""

import json
import os
import shutil

import pytest

from nsdval.cli import main

pytestmark = pytest.mark.slow


def executed(capsys):
    """Reports the progress lines show as executed, e.g. ``{"subj01 V4 validation"}``."""
    found = set()
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith("[") or line.endswith("unchanged"):
            continue
        words = line.split()[2:]
        at = next(i for i, w in enumerate(words) if w.startswith("assembly_"))
        found.add(" ".join([*words[:at], words[at].removeprefix("assembly_")]))
    return found


@pytest.fixture
def tree(tiny_tree, tmp_path):
    """A private copy: the tests touch its files."""
    return shutil.copytree(tiny_tree, tmp_path / "tree")


def run(tree, out, *extra):
    argv = ["run", "--nsd-root", str(tree), "--out", str(out), "--subjects", "1"]
    return main([*argv, "--reports", "structure,validation", *extra])


def test_only_changed_reports_are_executed_again(tree, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(tree, out, "--regions", "V1,V4") == 0
    assert executed(capsys) == {"run structure", "subj01 V1 validation", "subj01 V4 validation"}

    assert run(tree, out, "--regions", "V1,V4") == 0
    assert executed(capsys) == set()

    assert run(tree, out, "--regions", "V4", "-p", "tolerance=2e-5") == 0
    assert executed(capsys) == {"subj01 V4 validation"}
    results = json.loads((out / "results.json").read_text())
    by_id = {r["id"]: r for r in results["reports"]}
    assert set(by_id) == {
        "assembly_structure",
        "subj01-V1-assembly_validation",
        "subj01-V4-assembly_validation",
    }
    assert by_id["subj01-V4-assembly_validation"]["parameters"]["tolerance"] == 2e-5
    assert "tolerance" not in by_id["subj01-V1-assembly_validation"]["parameters"]

    assert run(tree, out, "--regions", "V1,V4", "--force") == 0
    assert executed(capsys) == {"run structure", "subj01 V1 validation", "subj01 V4 validation"}


def test_a_changed_data_file_reruns_the_reports_that_read_it(tree, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(tree, out, "--regions", "V4") == 0
    capsys.readouterr()
    roi = tree / "subj01" / "rois" / "prf-visualrois.nii.gz"
    stat = roi.stat()
    os.utime(roi, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert run(tree, out, "--regions", "V4") == 0
    assert executed(capsys) == {"run structure", "subj01 V4 validation"}
    score = tree / "benchmark" / "V1" / "score.json"
    score.write_text(score.read_text())  # new mtime, same content: only V1 readers care
    assert run(tree, out, "--regions", "V4") == 0
    assert executed(capsys) == set()
