"""`nsdval run`, `rerun` and `index` through `main([...])` on the tiny synthetic tree."""

import json
import re
import shutil

import pytest

from nsdval.analysis.record import SCHEMA_VERSION, ReportRecord, read_results, results_to_json
from nsdval.cli import main
from nsdval.run import plan
from nsdval.synth import FAULTS, synthesize

pytestmark = pytest.mark.slow

# Each fault, the smallest run that shows it, and checks that must fail in results.json.
FAULT_EXPECTATIONS = {
    "no-global-zscore": ("V4", {"train-values"}),
    "ddof1": ("V4", {"train-values"}),
    "no-session-zscore": ("V4", {"region-assembly-values"}),
    "int16-scale": ("V4", {"region-assembly-values"}),
    "reps-misaligned": ("V4", {"test-rep0-values"}),
    "neuroids-shuffled": ("V4", {"train-values"}),
    "regions-swapped": ("V1", {"region-order"}),
    "subjects-swapped": ("V4", {"subject-order"}),
    "train-test-leak": ("V4", {"split-disjoint"}),
    "nsd-id-off-by-one": ("V4", {"split-complete", "images-match-design"}),
    "voxel-coords-transposed": ("V4", {"voxel-coords"}),
    "nc-testset-wrong": ("V4", {"nc-testset", "nc-testset-volume"}),
    "split-seed": ("V4", {"split-seed"}),
    "score-wrong": ("V4", {"replica-raw", "region-score"}),
}


def failing_checks(results):
    return {c["name"] for r in results["reports"] for c in r["checks"] if c["status"] == "fail"}


@pytest.fixture(scope="module")
def clean_run(tiny_tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    code = main(["run", "--nsd-root", str(tiny_tree), "--out", str(out), "--jobs", "2"])
    return code, out, json.loads((out / "results.json").read_text())


def test_clean_tree_passes_every_check(clean_run):
    code, out, results = clean_run
    assert code == 0
    assert results["status"] == "pass"
    assert results["schema_version"] == SCHEMA_VERSION
    ids = [r["id"] for r in results["reports"]]
    assert ids[0] == "assembly_structure"
    assert len(ids) == 1 + 2 * 4 + 4  # structure + 2 subjects x 4 regions + rdm per region
    assert ids[-4:] == [f"{region}-benchmark_rdm" for region in ("V1", "V2", "V4", "IT")]
    bad = {
        (r["id"], c["name"])
        for r in results["reports"]
        for c in r["checks"]
        if c["status"] not in ("pass",)
    }
    assert not bad
    assert all(len(r["checks"]) >= 10 for r in results["reports"])  # rdm: 2 subjects, 11


def test_every_report_is_written_with_notebook_html_and_sidecar(clean_run):
    _, out, results = clean_run
    for record in results["reports"]:
        assert (out / record["notebook"]).is_file()
        assert (out / record["html"]).is_file()
        sidecar = json.loads(((out / record["html"]).parent / "results.json").read_text())
        assert sidecar["status"] == record["status"]
        assert [c["name"] for c in sidecar["checks"]] == [c["name"] for c in record["checks"]]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["nsdval_version"] and manifest["packages"]["papermill"]
    assert any(i["path"].endswith("betas_session01.hdf5") for i in manifest["inputs"])
    # no betas file is hashed whole: it is described by the chunks the extraction read
    betas = [i for i in manifest["inputs"] if i["path"].endswith(".hdf5")]
    assert betas and all(len(i["read_sha256"]) == 64 and "sha256" not in i for i in betas)
    others = [i for i in manifest["inputs"] if not i["path"].endswith(".hdf5")]
    assert all(len(i["sha256"]) == 64 for i in others)


def test_results_and_sidecars_read_back_into_the_records_they_hold(clean_run):
    _, out, _ = clean_run
    read = read_results(out)
    text = json.dumps(results_to_json(read), indent=2) + "\n"
    assert text == (out / "results.json").read_text()  # written again byte for byte
    for record in read["reports"]:
        sidecar = json.loads(((out / record.html).parent / "results.json").read_text())
        assert list(sidecar) == ["schema_version", *record.to_dict(), "extra"]
        assert sidecar["schema_version"] == SCHEMA_VERSION
        del sidecar["extra"]
        assert ReportRecord.from_dict(sidecar) == record


def test_index_links_resolve(clean_run):
    _, out, results = clean_run
    page = (out / "index.html").read_text()
    links = set(re.findall(r'href="([^"#]+)"', page))
    assert {r["html"] for r in results["reports"]} <= links
    for link in links:
        assert (out / link).is_file(), link
    assert "http://" not in page and "https://" not in page


def test_index_command_rebuilds_the_page_from_results(clean_run, tmp_path):
    _, out, _ = clean_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "index.html").unlink()
    assert main(["index", str(copy)]) == 0
    assert (copy / "index.html").read_text() == (out / "index.html").read_text()


def test_reports_open_with_the_check_table_and_work_offline(clean_run):
    _, out, results = clean_run
    record = results["reports"][1]
    page = (out / record["html"]).read_text()
    first_check = record["checks"][0]["name"]
    assert (
        page.index(first_check) < page.index("Raw betas bypass</h2")
        if "Raw betas bypass</h2" in page
        else True
    )
    assert not re.search(r'(src|href)="https?://', page)
    assert "data:image/png;base64" in page
    assert len(page.encode()) < 2_000_000


def test_rerun_with_new_parameters_updates_results_and_index(clean_run, tmp_path):
    _, out, _ = clean_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    code = main(["rerun", str(copy / "subj01" / "V4"), "-p", "tolerance=1e-30"])
    results = json.loads((copy / "results.json").read_text())
    record = next(r for r in results["reports"] if r["id"] == "subj01-V4-assembly_validation")
    assert code == 1  # nothing is reproduced to 1e-30 in float32
    assert record["parameters"]["tolerance"] == 1e-30
    assert record["rerun"]["overrides"] == {"tolerance": 1e-30}
    assert record["status"] == "fail" and results["status"] == "fail"
    assert "1e-30" in (copy / "subj01" / "V4" / "assembly_validation.html").read_text()


def test_unknown_or_mistyped_parameters_stop_before_any_kernel(tiny_tree, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--nsd-root", str(tiny_tree), "--out", str(out), "-p", "tolerence=1"]) == 2
    assert "parameter 'tolerence': unknown" in capsys.readouterr().err
    assert main(["run", "--nsd-root", str(tiny_tree), "--out", str(out), "-p", "seed=x"]) == 2
    assert "expected int, got str 'x'" in capsys.readouterr().err
    assert not out.exists()


BREAKING_CELL = """\
import os, signal, time
if region == "V1":
    os.kill(os.getpid(), signal.SIGKILL)
elif region == "V2":
    time.sleep(600)
else:
    raise RuntimeError("template broken on purpose")
"""


def test_kernel_death_timeout_and_exception_each_yield_an_error_report(tiny_tree, tmp_path):
    notebooks = tmp_path / "notebooks"
    shutil.copytree(plan.default_notebooks_dir(), notebooks)
    template = notebooks / "assembly_validation.ipynb"
    nb = json.loads(template.read_text())
    nb["cells"][3]["source"] = BREAKING_CELL
    template.write_text(json.dumps(nb))
    out = tmp_path / "out"
    args = ["run", "--nsd-root", str(tiny_tree), "--out", str(out), "--subjects", "1"]
    args += ["--regions", "V1,V2,V4", "--notebooks", str(notebooks), "--timeout", "10"]
    code = main([*args, "--jobs", "2"])
    results = json.loads((out / "results.json").read_text())
    errors = {r["region"]: r["error"] for r in results["reports"] if r["status"] == "error"}
    assert code == 1
    assert [r["status"] for r in results["reports"] if r["region"] is None] == ["pass"]
    assert {region: e["ename"] for region, e in errors.items()} == {
        "V1": "DeadKernelError",
        "V2": "CellTimeoutError",
        "V4": "RuntimeError",
    }
    # counted in the executed notebook, which has papermill's injected cell
    assert {e["cell_index"] for e in errors.values()} == {4}
    assert all(e["cell_source"].strip() == BREAKING_CELL.strip() for e in errors.values())
    index = (out / "index.html").read_text()
    assert "DeadKernelError" in index and "CellTimeoutError" in index
    for region, words in (("V1", "Kernel died"), ("V2", "timed out"), ("V4", "on purpose")):
        page = (out / "subj01" / region / "assembly_validation.html").read_text()
        assert words in page
        assert page.index(words) < page.index("Region assembly -&gt; Brain-Score")


def test_every_fault_has_an_expectation():
    assert set(FAULT_EXPECTATIONS) == set(FAULTS)


@pytest.mark.parametrize("fault", sorted(FAULT_EXPECTATIONS))
def test_each_fault_fails_its_named_checks(fault, tmp_path):
    region, expected = FAULT_EXPECTATIONS[fault]
    tree = synthesize(tmp_path / "tree", preset="tiny", seed=0, fault=fault)
    out = tmp_path / "out"
    code = main(
        ["run", "--nsd-root", str(tree), "--out", str(out), "--subjects", "1", "--regions", region]
    )
    results = json.loads((out / "results.json").read_text())
    assert code == 1
    assert results["status"] == "fail"
    assert expected <= failing_checks(results), failing_checks(results)
    assert not [r for r in results["reports"] if r["status"] == "error"]


def official_copy(tree, root):
    """The same data arranged in NSD's official layout."""
    for subject_dir in sorted(tree.glob("subj*")):
        label = subject_dir.name
        betas = root / "nsddata_betas/ppdata" / label / "func1pt8mm/betas_fithrf_GLMdenoise_RR"
        rois = root / "nsddata/ppdata" / label / "func1pt8mm/roi"
        shutil.copytree(subject_dir / "betas", betas)
        shutil.copytree(subject_dir / "rois", rois)
    design = root / "nsddata/experiments/nsd"
    design.mkdir(parents=True)
    shutil.copy(tree / "metadata/nsd_expdesign.mat", design)
    for folder in ("assemblies", "brainscore", "benchmark"):
        shutil.copytree(tree / folder, root / folder)
    return root


def test_the_official_nsd_layout_validates_the_same(tiny_tree, tmp_path):
    root = official_copy(tiny_tree, tmp_path / "nsd")
    out = tmp_path / "out"
    code = main(
        ["run", "--nsd-root", str(root), "--out", str(out), "--subjects", "2", "--regions", "IT"]
    )
    results = json.loads((out / "results.json").read_text())
    assert code == 0, failing_checks(results)
    assert [r["id"] for r in results["reports"]] == [
        "assembly_structure",
        "subj02-IT-assembly_validation",
        "IT-benchmark_rdm",
    ]
    assert "official layout" in (out / "subj02/IT/assembly_validation.html").read_text()


def test_relative_root_and_folder_overrides_reach_the_notebooks(tiny_tree, tmp_path, monkeypatch):
    # the notebooks run in their report folders: relative paths must be made absolute first
    monkeypatch.chdir(tiny_tree.parent)
    out = tmp_path / "out"
    args = ["run", "--nsd-root", tiny_tree.name, "--out", str(out), "--subjects", "1"]
    args += ["--regions", "V4", "--assemblies-dir", f"{tiny_tree.name}/assemblies"]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert [r["status"] for r in results["reports"]] == ["pass", "pass", "pass"]
    assert all(
        r["parameters"]["assemblies_dir"] == str(tiny_tree.resolve() / "assemblies")
        for r in results["reports"]
    )
