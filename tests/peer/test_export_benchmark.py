"""``nsdval export-benchmark`` on benchmarks built from the synthetic assemblies.

The ridge files are held against nsdval's ridge replica and the tree's reported score; the
``score_rdm.json`` written beside them against nsdval's ``-rdm`` replica
(``rsa.score_rsa``) on arrays read from the tree and the exported activations.
"""

import json
import shutil
from unittest import mock

import numpy as np
import pytest
from peer_helpers import (
    RDM_KEYS,
    RDM_TOLERANCE,
    TOLERANCE,
    VOLUME,
    dataset_loader,
    keep_ceiling_in_memory,
    max_difference,
    rdm_gaps,
    rdm_module,
    rdm_replica,
    real_benchmark,
    real_rdm_benchmark,
    replica_record,
    tree_activations,
)

from nsdval import cli
from nsdval.analysis import export, peer
from nsdval.data import assemblies
from nsdval.data.families import Family, family_layout
from nsdval.data.layout import detect_layout
from nsdval.errors import OutputError


@pytest.fixture(scope="module")
def exported(tiny_tree, tmp_path_factory):
    bench, patch = real_benchmark(tiny_tree, "V4")
    model = peer.RecordedModel(tree_activations(tiny_tree, "V4"))
    out = tmp_path_factory.mktemp("bench")
    with patch:
        result = export.export_benchmark(benchmark=bench, model=model, out_dir=out)
    return result


def export_family(root, family, region, out_dir):
    """export-benchmark on the family's ridge benchmark object; the -rdm one it derives."""
    module, _ = rdm_module(family)
    factory = getattr(module, "Allen2022fmriSurface", None) or module.Allen2022fmri
    with mock.patch.object(module, "load_dataset", dataset_loader(root, family)):
        bench = factory(region, "ridge", dataset_prefix=family.benchmark_name)
        keep_ceiling_in_memory(bench)
        model = peer.RecordedModel(tree_activations(root, region, family))
        return export.export_benchmark(benchmark=bench, model=model, out_dir=out_dir)


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


def check_rdm_record(root, family, region, result):
    """score_rdm.json: its keys, names, and the replica on the exported activations."""
    folder = result["folder"]
    record = json.loads((folder / export.RDM_FILE).read_text())
    assert record == result["score_rdm"]
    assert set(record) == {*RDM_KEYS, "benchmark", "model", "subjects"}
    assert record["benchmark"] == f"{family.benchmark_name}.{region}-rdm"
    assert record["model"] == "recorded-activations"
    assert all(set(numbers) == {"raw"} for numbers in record["subjects"].values())
    assert result["rdm_activation_difference"] == 0.0
    written = tree_activations(root, region, family, benchmark_dir=folder.parent)
    gaps = rdm_gaps(rdm_replica(root, region, family, activations=written), record)
    print(family, region, "score_rdm.json vs replica, largest difference:", max(gaps.values()))
    assert max(gaps.values()) <= RDM_TOLERANCE, gaps
    return record


def test_export_writes_the_rdm_score_of_the_replica(tiny_tree, exported, brainscore_rdm_scores):
    record = check_rdm_record(tiny_tree, VOLUME, "V4", exported)
    assert list(record["subjects"]) == ["subj01", "subj02"]
    live = brainscore_rdm_scores(tiny_tree, "V4")
    assert live == {key: value for key, value in record.items() if key != "model"}


@pytest.mark.parametrize(
    ("family", "tree"),
    [(Family("surface"), "tiny_all_tree"), (Family("volume", "_4subj"), "demo_tree")],
)
def test_export_of_the_other_families(request, family, tree, tmp_path):
    root = request.getfixturevalue(tree)
    result = export_family(root, family, "IT", tmp_path)
    assert result["score"]["benchmark"] == f"{family.benchmark_name}.IT-ridge"
    reported = json.loads((family_layout(root, family).score("IT")).read_text())
    assert max_difference(result["score"], reported) <= TOLERANCE
    check_rdm_record(root, family, "IT", result)


def test_no_rdm_writes_and_leaves_no_rdm_score(tiny_tree, exported, tmp_path):
    out = tmp_path / "bench"
    shutil.copytree(exported["folder"].parent, out)
    bench, patch = real_benchmark(tiny_tree, "V4")
    model = peer.RecordedModel(tree_activations(tiny_tree, "V4"))
    with patch:
        keep_ceiling_in_memory(bench)
        result = export.export_benchmark(
            benchmark=bench, model=model, out_dir=out, overwrite=True, rdm=False
        )
    assert result["score_rdm"] is None and result["rdm_activation_difference"] is None
    assert sorted(p.name for p in (out / "V4").iterdir()) == sorted(export.RIDGE_FILES)


def test_a_failing_rdm_benchmark_writes_nothing(tiny_tree, tmp_path):
    bench, patch = real_benchmark(tiny_tree, "V4")
    rdm, _ = real_rdm_benchmark(tiny_tree, "V4")
    rdm._similarity = mock.Mock(side_effect=RuntimeError("similarity failed"))
    model = peer.RecordedModel(tree_activations(tiny_tree, "V4"))
    with patch, pytest.raises(RuntimeError, match="similarity failed"):
        keep_ceiling_in_memory(bench)
        export.export_benchmark(benchmark=bench, model=model, out_dir=tmp_path, rdm=rdm)
    assert list(tmp_path.iterdir()) == []  # the ridge benchmark had scored: nothing written


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
    argv = ["export-benchmark", "--benchmark", "Allen2022_fmri.IT-rdm", "--model", "stand-in"]
    assert cli.main([*argv, "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "Allen2022_fmri.IT-ridge stand-in: score" in captured.out
    assert "Allen2022_fmri.IT-rdm stand-in: score" in captured.out
    assert "leave-one-out bound" in captured.out and "warning" not in captured.err
    score = json.loads((tmp_path / "IT" / "score.json").read_text())
    assert score["model"] == "stand-in"
    reported = json.loads((tiny_tree / "benchmark" / "IT" / "score.json").read_text())
    assert max_difference(score, reported) <= TOLERANCE
    rdm = json.loads((tmp_path / "IT" / "score_rdm.json").read_text())
    assert rdm["benchmark"] == "Allen2022_fmri.IT-rdm" and rdm["model"] == "stand-in"
    gaps = rdm_gaps(rdm_replica(tiny_tree, "IT"), rdm)
    assert max(gaps.values()) <= RDM_TOLERANCE, gaps


def test_cli_unknown_benchmark_is_a_usage_error(tmp_path, capsys):
    argv = ["export-benchmark", "--benchmark", "Nope.V4-ridge", "--model", "m"]
    assert cli.main([*argv, "--out", str(tmp_path)]) == 2
    assert "no benchmark 'Nope.V4-ridge'" in capsys.readouterr().err
    argv = ["export-benchmark", "--benchmark", "Allen2022_fmri.V4-rdm", "--model", "m", "--no-rdm"]
    assert cli.main([*argv, "--out", str(tmp_path)]) == 2
    assert "is an -rdm benchmark" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
