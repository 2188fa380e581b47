import json
from pathlib import Path

import nbformat
import pytest

from nsdval.analysis.record import SCHEMA_VERSION
from nsdval.data.families import Family
from nsdval.errors import OutputError, ParameterError
from nsdval.run import execution, plan, runner

DATA = Path(__file__).resolve().parent.parent / "data" / "notebooks"
TEMPLATES = plan.default_notebooks_dir()


def test_declared_parameters_of_the_shipped_templates():
    validation = plan.declared_parameters(TEMPLATES / "assembly_validation.ipynb")
    layout = plan.declared_parameters(TEMPLATES / "assembly_structure.ipynb")
    for name in ("nsd_root", "subject", "region", "variant", "tolerance", "spot_checks", "seed"):
        assert name in validation
    assert validation["tolerance"] == "float" and validation["subject"] == "int"
    assert {"nsd_root", "regions", "results_path"} <= set(layout)


def test_a_template_without_parameters_cell_is_refused():
    with pytest.raises(ParameterError, match="no cell tagged 'parameters'"):
        plan.declared_parameters(DATA / "no_parameters.ipynb")


DECLARED = {"a": {"tolerance": "float", "seed": "int", "label": "str"}, "b": {"flag": "bool"}}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"tolerence": 1e-6},
            "'tolerence': unknown; templates declare flag, label, seed, tolerance",
        ),
        ({"tolerance": "tiny"}, "'tolerance': expected float, got str 'tiny'"),
        ({"seed": 1.5}, "'seed': expected int, got float 1.5"),
        ({"seed": True}, "'seed': expected int, got bool True"),
        ({"flag": 1}, "'flag': expected bool, got int 1"),
        ({"subject": 2}, "'subject': is set by nsdval run itself"),
    ],
)
def test_check_overrides_refuses_bad_parameters(overrides, message):
    with pytest.raises(ParameterError, match=message.replace("(", r"\(")):
        plan.check_overrides(overrides, DECLARED)


def test_check_overrides_accepts_ints_for_floats():
    plan.check_overrides({"tolerance": 1, "seed": 2, "label": "x", "flag": False}, DECLARED)


def test_plan_jobs_scopes_overrides_to_the_templates_that_declare_them(tmp_path):
    declared = plan.declared_by_template(TEMPLATES)
    config = plan.RunConfig(
        nsd_root=tmp_path,
        out=tmp_path / "o",
        regions=("V1", "IT"),
        parameters={"tolerance": 1e-6, "score_tolerance": 0.01},
    )
    volume = plan.FamilyRun(Family(), None, (1, 2))
    jobs = plan.plan_jobs(config, [volume], declared)
    assert [j.id for j in jobs] == [
        "assembly_structure",
        "subj01-V1-assembly_validation",
        "subj01-IT-assembly_validation",
        "subj02-V1-assembly_validation",
        "subj02-IT-assembly_validation",
        "V1-benchmark_rdm",
        "IT-benchmark_rdm",
    ]
    assert jobs[0].rel_dir == "structure" and jobs[4].rel_dir == "subj02/IT"
    assert jobs[6].rel_dir == "rdm/IT" and jobs[6].subject is None
    assert jobs[6].parameters["region"] == "IT" and "subject" not in jobs[6].parameters
    assert jobs[6].parameters["tolerance"] == 1e-6  # -p goes to every template declaring it
    assert "score_tolerance" not in jobs[6].parameters  # which benchmark_rdm does not
    assert "tolerance" not in jobs[0].parameters and jobs[0].parameters["score_tolerance"] == 0.01
    assert jobs[0].parameters["regions"] == "V1,IT"
    assert jobs[1].parameters["tolerance"] == 1e-6 and jobs[1].parameters["subject"] == 1


def test_plan_jobs_puts_every_other_family_under_its_key(tmp_path):
    declared = plan.declared_by_template(TEMPLATES)
    config = plan.RunConfig(nsd_root=tmp_path, out=tmp_path / "o", regions=("V4",))
    runs = [
        plan.FamilyRun(Family(), None, (1, 3)),
        plan.FamilyRun(Family("surface", "_4subj"), None, (1,)),
    ]
    jobs = plan.plan_jobs(config, runs, declared)
    assert [(j.id, j.rel_dir, j.family) for j in jobs] == [
        ("assembly_structure", "structure", "volume_8subj"),
        ("subj01-V4-assembly_validation", "subj01/V4", "volume_8subj"),
        ("subj03-V4-assembly_validation", "subj03/V4", "volume_8subj"),
        ("V4-benchmark_rdm", "rdm/V4", "volume_8subj"),
        ("surface_4subj-assembly_structure", "surface_4subj/structure", "surface_4subj"),
        (
            "surface_4subj-subj01-V4-assembly_validation",
            "surface_4subj/subj01/V4",
            "surface_4subj",
        ),
        ("surface_4subj-V4-benchmark_rdm", "surface_4subj/rdm/V4", "surface_4subj"),
    ]
    surface = jobs[-2].parameters
    assert jobs[-1].parameters["space"] == "surface"
    assert (surface["space"], surface["variant"]) == ("surface", "_4subj")
    assert (jobs[0].parameters["space"], jobs[0].parameters["variant"]) == ("volume", "_8subj")


def _job(template, rel_dir="subj01/V4", **parameters):
    return plan.Job(f"subj01-V4-{template}", template, 1, "V4", parameters, rel_dir)


@pytest.mark.slow
def test_execute_job_records_checks_and_writes_notebook_html_and_sidecar(tmp_path):
    record = execution.execute_job(_job("checks", threshold=1.0), out=tmp_path, notebooks_dir=DATA)
    assert record.status == "fail"
    assert [c["name"] for c in record.checks] == ["always-passes", "value-below-threshold"]
    folder = tmp_path / "subj01" / "V4"
    nb = nbformat.read(folder / "checks.ipynb", as_version=4)
    assert "Status: FAIL" in nb.cells[1].source  # summary opens the notebook
    assert "value-below-threshold" in (folder / "checks.html").read_text()
    sidecar = json.loads((folder / "results.json").read_text())
    assert sidecar["status"] == "fail" and sidecar["schema_version"] == SCHEMA_VERSION
    assert not list(folder.glob(".*partial*"))

    record = execution.execute_job(_job("checks", threshold=5.0), out=tmp_path, notebooks_dir=DATA)
    assert record.status == "pass"


@pytest.mark.slow
def test_a_raising_notebook_yields_an_error_report(tmp_path):
    record = execution.execute_job(_job("broken"), out=tmp_path, notebooks_dir=DATA)
    assert record.status == "error"
    assert record.error["ename"] == "ValueError"
    assert "planted failure" in record.error["evalue"]
    # counted in the executed notebook, which has papermill's injected cell
    assert record.error["cell_index"] == 4
    page = (tmp_path / "subj01" / "V4" / "broken.html").read_text()
    assert "planted failure in cell 3" in page
    assert page.index("planted failure") < page.index("never reached")


def test_prepare_out_refuses_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        runner.prepare_out(target)


@pytest.mark.slow
def test_notebooks_run_in_this_python_whatever_the_python3_kernelspec_says(tmp_path, monkeypatch):
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    "/nonexistent/python",
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": "broken",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    record = execution.execute_job(_job("checks", threshold=5.0), out=tmp_path, notebooks_dir=DATA)
    assert record.status == "pass"


def _executed(statuses, banner_before=None):
    """A notebook as papermill leaves it: cells with or without a start time."""
    cells = []
    for i, started in enumerate(statuses):
        if i == banner_before:
            banner = nbformat.v4.new_markdown_cell("An Exception was encountered")
            banner.metadata["tags"] = [execution.PAPERMILL_BANNER]
            cells.append(banner)
        cell = nbformat.v4.new_code_cell(f"cell_{i}()")
        cell.metadata["papermill"] = {"start_time": "2026-11-24T10:00:00" if started else None}
        cells.append(cell)
    return nbformat.v4.new_notebook(cells=cells)


def test_locate_failing_cell_takes_the_last_started_cell_after_a_kernel_death():
    error = {"ename": "DeadKernelError", "evalue": "Kernel died", "cell_index": None}
    found = execution.locate_failing_cell(error, _executed([True, True, True, False, False]))
    assert found["cell_index"] == 2 and found["cell_source"] == "cell_2()"
    assert found["ename"] == "DeadKernelError" and error["cell_index"] is None


def test_locate_failing_cell_keeps_a_known_index_and_skips_papermill_banners():
    error = {"ename": "ValueError", "evalue": "x", "cell_index": 3}
    notebook = _executed([True, True, True, True, False], banner_before=3)
    notebook.cells.insert(0, notebook.cells[3].copy())  # papermill's top banner
    found = execution.locate_failing_cell(error, notebook)
    assert found["cell_index"] == 3 and found["cell_source"] == "cell_3()"


def test_locate_failing_cell_without_any_started_cell():
    found = execution.locate_failing_cell({"cell_index": None}, _executed([False, False]))
    assert found["cell_index"] is None and found["cell_source"] is None


def test_reports_choose_the_kinds_planned(tmp_path):
    from nsdval.cli import types

    assert set(types.REPORT_KINDS) == set(plan.REPORT_KINDS)
    declared = plan.declared_by_template(TEMPLATES)
    config = plan.RunConfig(
        nsd_root=tmp_path,
        out=tmp_path / "o",
        regions=("V1", "IT"),
        templates=(plan.STRUCTURE, plan.RDM),
    )
    jobs = plan.plan_jobs(config, [plan.FamilyRun(Family(), None, (1, 2))], declared)
    assert [j.id for j in jobs] == ["assembly_structure", "V1-benchmark_rdm", "IT-benchmark_rdm"]
    with pytest.raises(Exception, match="reports: expected a comma list"):
        types.parse_reports("structure,ridge")
