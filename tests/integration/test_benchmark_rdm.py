"""The benchmark_rdm template executed as a report on the tiny synthetic tree.

The tree has no score_rdm.json yet: the test writes one, computed apart from nsdval
(tests/rdm_reference.py), into a copy of the benchmark folder, right for V4 and with the
score squared for V1.
"""

import json
import shutil

import nbformat
import pytest
import rdm_reference

from nsdval.run import execution, plan

pytestmark = pytest.mark.slow

TEMPLATE = "benchmark_rdm"


@pytest.fixture(scope="module")
def reports(tiny_tree, tmp_path_factory):
    """Execute the template for V4 (right score_rdm.json) and V1 (score squared)."""
    work = tmp_path_factory.mktemp("rdm-report")
    benchmark_dir = work / "benchmark"
    shutil.copytree(tiny_tree / "benchmark", benchmark_dir)
    records = {}
    for region, mistake in (("V4", None), ("V1", "score-squared")):
        numbers = rdm_reference.reported(tiny_tree / "brainscore", benchmark_dir, region)[mistake]
        rdm_reference.write_score(benchmark_dir / region / "score_rdm.json", numbers, region)
        parameters = {
            "nsd_root": str(tiny_tree),
            "region": region,
            "benchmark_dir": str(benchmark_dir),
        }
        job = plan.Job(f"{region}-{TEMPLATE}", TEMPLATE, None, region, parameters, f"rdm/{region}")
        records[region] = execution.execute_job(
            job, out=work / "out", notebooks_dir=plan.default_notebooks_dir()
        )
    return work / "out", records


def statuses(record):
    return {(c["name"], c["subject"]): c["status"] for c in record.checks}


def test_a_right_reported_score_passes_and_the_synthetic_tree_shows_the_gradient(reports):
    out, records = reports
    record = records["V4"]
    assert record.error is None
    live = [c for c in record.checks if c["name"].startswith("rdm-brainscore-")]
    assert all(c["status"] == "pass" for c in live)  # only where Brain-Score imports
    checks = [c for c in record.checks if c not in live]
    assert [(c["name"], c["subject"], c["status"]) for c in checks] == [
        ("rdm-unique-images", None, "pass"),
        ("rdm-raw", None, "pass"),
        ("rdm-ceiling", None, "pass"),
        ("rdm-lower-bound-loo", None, "pass"),
        ("rdm-score", None, "pass"),
        ("rdm-subject-raw", "subj01", "pass"),
        ("rdm-subject-raw", "subj02", "pass"),
        ("rdm-score-rule", None, "pass"),
        ("rdm-subject-consistency", None, "pass"),  # two subjects: no outlier to tell
        # the synthetic regions read out bands of a latent hierarchy: V2-V4, V4-IT > V1-IT
        ("rdm-region-gradient", None, "pass"),
    ]
    assert record.status == "pass" and {c["region"] for c in record.checks} == {"V4"}
    sidecar = json.loads((out / "rdm" / "V4" / "results.json").read_text())
    entry = sidecar["extra"]["benchmark"]["V4"]
    assert entry["benchmark"] == "Allen2022_fmri.V4-rdm"
    assert entry["reported"]["ceiling"] == pytest.approx(entry["replica"]["ceiling"], abs=1e-12)
    assert sorted(entry["subjects"]) == ["subj01", "subj02"]


def test_a_squared_score_fails_its_two_checks_and_the_report_shows_why(reports):
    out, records = reports
    record = records["V1"]
    failed = sorted(name for (name, _), status in statuses(record).items() if status == "fail")
    assert failed == ["rdm-score", "rdm-score-rule"] and record.status == "fail"
    notebook = nbformat.read(out / "rdm" / "V1" / f"{TEMPLATE}.ipynb", as_version=4)
    numbers = next(c for c in notebook.cells if c.get("id") == "cell-numbers")
    text = "".join(o.get("text", "") for o in numbers.outputs)
    assert "score_rdm.json (Allen2022_fmri.V1-rdm, model test-model)." in text
    assert "Brain-Score live: not run" in text or "Brain-Score live: scored" in text
    assert not any(o.get("name") == "stderr" for o in numbers.outputs)
    page = (out / "rdm" / "V1" / f"{TEMPLATE}.html").read_text()
    assert "it equals raw² / ceiling" in page
