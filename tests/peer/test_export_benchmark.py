"""``nsdval export-benchmark`` on a benchmark built from the synthetic assemblies."""

import json

import numpy as np
import pytest
from peer_helpers import (
    TOLERANCE,
    dataset_loader,
    max_difference,
    real_benchmark,
    replica_record,
    tree_activations,
)

from nsdval import cli
from nsdval.analysis import export, peer
from nsdval.data import assemblies
from nsdval.data.layout import detect_layout
from nsdval.errors import OutputError


@pytest.fixture
def exported(tiny_tree, tmp_path):
    bench, patch = real_benchmark(tiny_tree, "V4")
    model = peer.RecordedModel(tree_activations(tiny_tree, "V4"))
    with patch:
        result = export.export_benchmark(benchmark=bench, model=model, out_dir=tmp_path / "bench")
    return result


def test_export_writes_what_the_replica_reads(tiny_tree, exported, brainscore_scores):
    folder = exported["folder"]
    assert folder.name == "V4"
    assert sorted(p.name for p in folder.iterdir()) == sorted(export.FILES)
    score = json.loads((folder / "score.json").read_text())
    assert score["benchmark"] == "Allen2022_fmri.V4-ridge"
    assert score["model"] == "recorded-activations"
    assert max_difference(score, brainscore_scores(tiny_tree, "V4")) <= 1e-12
    ours = replica_record(tiny_tree, "V4", benchmark_dir=folder.parent)
    assert max_difference(ours, score) <= TOLERANCE


def test_exported_activations_are_the_model_features(tiny_tree, exported):
    layout = detect_layout(tiny_tree, benchmark_dir=exported["folder"].parent)
    for split, original in zip(("train", "test"), tree_activations(tiny_tree, "V4"), strict=True):
        written = assemblies.load_activations(layout, "V4", split)
        rows = {s: i for i, s in enumerate(original["stimulus_id"].values.tolist())}
        order = [rows[s] for s in written["stimulus_id"].values.tolist()]
        np.testing.assert_array_equal(written.values, original.values[order])
        assert {"stimulus_num", "neuroid_id", "neuroid_num"} <= set(written.coords)


def test_export_refuses_to_overwrite(tiny_tree, exported):
    bench, patch = real_benchmark(tiny_tree, "V4")
    model = peer.RecordedModel(tree_activations(tiny_tree, "V4"))
    out = exported["folder"].parent
    with patch, pytest.raises(OutputError, match="--overwrite"):
        export.export_benchmark(benchmark=bench, model=model, out_dir=out)


def test_cli_resolves_identifiers_with_brainscore(tiny_tree, tmp_path, monkeypatch, capsys):
    import brainscore_vision
    from brainscore_vision.benchmarks.allen2022_fmri import benchmark as module

    model = peer.RecordedModel(tree_activations(tiny_tree, "IT"))
    monkeypatch.setattr(module, "load_dataset", dataset_loader(tiny_tree))
    monkeypatch.setattr(brainscore_vision, "load_model", lambda name: model)
    argv = ["export-benchmark", "--benchmark", "Allen2022_fmri.IT-ridge", "--model", "stand-in"]
    assert cli.main([*argv, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Allen2022_fmri.IT-ridge stand-in: score" in out
    score = json.loads((tmp_path / "IT" / "score.json").read_text())
    assert score["model"] == "stand-in"
    reported = json.loads((tiny_tree / "benchmark" / "IT" / "score.json").read_text())
    assert max_difference(score, reported) <= TOLERANCE


def test_cli_unknown_benchmark_is_a_usage_error(tmp_path, capsys):
    argv = ["export-benchmark", "--benchmark", "Nope.V4-ridge", "--model", "m"]
    assert cli.main([*argv, "--out", str(tmp_path)]) == 2
    assert "no benchmark 'Nope.V4-ridge'" in capsys.readouterr().err
