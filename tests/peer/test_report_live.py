"""Section 3 of the validation report scores live with Brain-Score when it is installed."""

import json

import nbformat

from nsdval import cli


def test_the_report_shows_brainscore_live_beside_the_replica(tiny_tree, tmp_path):
    out = tmp_path / "run"
    argv = ["run", "--nsd-root", str(tiny_tree), "--out", str(out)]
    assert cli.main([*argv, "--subjects", "2", "--regions", "V4", "--jobs", "1"]) == 0
    sidecar = json.loads((out / "subj02" / "V4" / "results.json").read_text())
    live = {c["name"]: c for c in sidecar["checks"] if c["name"].startswith("brainscore-")}
    assert sorted(live) == ["brainscore-ceiling", "brainscore-raw", "brainscore-score"]
    assert all(c["status"] == "pass" and c["value"] < 1e-5 for c in live.values())
    assert set(sidecar["benchmark"]["subj02"]["brainscore"]) == {"raw", "ceiling", "score"}
    notebook = nbformat.read(out / "subj02" / "V4" / "assembly_validation.ipynb", as_version=4)
    cell = next(c for c in notebook.cells if c.get("id") == "cell-bs-live")
    text = "".join(o.get("text", "") for o in cell.outputs)
    assert text.startswith("Scored live with Brain-Score's own classes (brainscore-vision")
    assert not any(o.get("name") == "stderr" for o in cell.outputs)
    table = cell.outputs[-1]["data"]["text/plain"]
    assert "Brain-Score live" in table and "nsdval replica" in table
