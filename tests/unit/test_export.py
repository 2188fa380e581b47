import json
import sys
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from nsdval import cli
from nsdval.analysis import export
from nsdval.errors import DependencyError, InputError, OutputError, ParameterError


def brainscore_like_activations(time_bin=False):
    """Activations as Brain-Score returns them: MultiIndex dims, path objects."""
    from pathlib import Path

    presentation = pd.MultiIndex.from_arrays(
        [["nsd_00003", "nsd_00001"], [Path("/s/3.png"), Path("/s/1.png")]],
        names=["stimulus_id", "stimulus_path"],
    )
    neuroid = pd.MultiIndex.from_arrays(
        [np.arange(3), ["conv5.0", "conv5.1", "conv5.2"]], names=["neuroid_num", "neuroid_id"]
    )
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    coords = {"presentation": presentation, "neuroid": neuroid}
    dims = ["presentation", "neuroid"]
    if time_bin:
        values, dims = values[..., None], [*dims, "time_bin"]
        coords["time_bin"] = [0]
    return xr.DataArray(values, coords=coords, dims=dims)


@pytest.mark.parametrize("time_bin", [False, True])
def test_plain_activations_flatten_every_level(tmp_path, time_bin):
    plain = export.plain_activations(brainscore_like_activations(time_bin), name="activations")
    assert plain.dims == ("presentation", "neuroid")
    assert plain["stimulus_id"].values.tolist() == ["nsd_00003", "nsd_00001"]
    assert plain["stimulus_path"].values.tolist() == ["/s/3.png", "/s/1.png"]
    assert plain["neuroid_num"].values.tolist() == [0, 1, 2]
    export._write_netcdf(plain, tmp_path / "a.nc")
    with xr.open_dataarray(tmp_path / "a.nc") as back:
        np.testing.assert_array_equal(back.values, plain.values)
        assert back["neuroid_id"].values.tolist() == ["conv5.0", "conv5.1", "conv5.2"]
    assert [p.name for p in tmp_path.iterdir()] == ["a.nc"]  # no temporary file left


def test_plain_activations_need_stimulus_ids_and_two_dims():
    array = xr.DataArray(np.zeros((2, 3)), dims=["presentation", "neuroid"])
    with pytest.raises(InputError, match="stimulus_id"):
        export.plain_activations(array, name="a")
    with pytest.raises(InputError, match="dims"):
        export.plain_activations(xr.DataArray(np.zeros((2, 3, 2))), name="a")


def test_existing_files_are_kept_unless_overwrite(tmp_path):
    (tmp_path / "V4").mkdir()
    (tmp_path / "V4" / "score.json").write_text("{}")
    with pytest.raises(OutputError, match="exists"):
        export._target_dir(tmp_path, "V4", overwrite=False)
    assert export._target_dir(tmp_path, "V4", overwrite=True) == tmp_path / "V4"


def test_identifiers_need_brainscore(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "brainscore_core", None)
    with pytest.raises(DependencyError):
        export.export_benchmark(benchmark="Allen2022_fmri.V4-ridge", model="m", out_dir=tmp_path)


def export_result(tmp_path, difference=0.0):
    files = [tmp_path / "V4" / name for name in export.FILES]
    score = {"benchmark": "B", "model": "M", "score": 0.2, "raw": 0.3, "ceiling": 0.4}
    rdm = {**score, "benchmark": "B-rdm", "score": 0.5, "lower_bound_loo": 0.35, "subjects": {}}
    return {
        "folder": tmp_path / "V4",
        "files": files,
        "score": score,
        "score_rdm": rdm,
        "rdm_activation_difference": difference,
    }


def test_cli_calls_export_benchmark_and_prints_the_files(tmp_path, capsys):
    result = export_result(tmp_path)
    with mock.patch.object(export, "export_benchmark", return_value=result) as called:
        code = cli.main(
            ["export-benchmark", "--benchmark", "B", "--model", "M", "--out", str(tmp_path)]
        )
    assert code == 0
    called.assert_called_once_with(
        benchmark="B", model="M", out_dir=tmp_path, overwrite=False, rdm=True
    )
    captured = capsys.readouterr()
    assert str(result["files"][3].resolve()) in captured.out
    assert "B M: score 0.2000, raw 0.3000" in captured.out
    assert "B-rdm M: score 0.5000, raw 0.3000, ceiling 0.4000, leave-one-out bound 0.3500" in (
        captured.out
    )
    assert captured.err == ""


def test_cli_no_rdm_and_the_activation_warning(tmp_path, capsys):
    argv = ["export-benchmark", "--benchmark", "B", "--model", "M", "--out", str(tmp_path)]
    result = export_result(tmp_path, difference=0.25)
    with mock.patch.object(export, "export_benchmark", return_value=result) as called:
        assert cli.main([*argv, "--no-rdm"]) == 0
    assert called.call_args.kwargs["rdm"] is False
    assert "largest relative difference 0.25" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("identifier", "pair"),
    [
        ("Allen2022_fmri.V4-ridge", ("Allen2022_fmri.V4-ridge", "Allen2022_fmri.V4-rdm")),
        (
            "Allen2022_fmri_4subj.IT-rdm",
            ("Allen2022_fmri_4subj.IT-ridge", "Allen2022_fmri_4subj.IT-rdm"),
        ),
    ],
)
def test_benchmark_pair(identifier, pair):
    assert export.benchmark_pair(identifier) == pair


@pytest.mark.parametrize("identifier", ["Allen2022_fmri.V4-pls", "V4-ridge", "a.b.V4-rdm"])
def test_benchmark_pair_refuses_other_identifiers(identifier):
    with pytest.raises(ParameterError, match="FAMILY.REGION-ridge"):
        export.benchmark_pair(identifier)


def test_an_rdm_identifier_with_rdm_off_is_a_usage_error(tmp_path):
    with pytest.raises(ParameterError, match="is an -rdm benchmark"):
        export.export_benchmark(
            benchmark="Allen2022_fmri.V4-rdm", model="m", out_dir=tmp_path, rdm=False
        )


def test_an_output_path_below_a_file_is_refused_before_scoring(tmp_path):
    (tmp_path / "out").write_text("")
    with pytest.raises(OutputError, match="not a folder"):
        export._target_dir(tmp_path / "out", "V4", overwrite=False)


def plain(ids, values):
    values = np.asarray(values, dtype=np.float32)
    neuroids = np.arange(values.shape[1])
    coords = {"stimulus_id": ("presentation", ids), "neuroid_id": ("neuroid", neuroids)}
    return xr.DataArray(values, dims=("presentation", "neuroid"), coords=coords)


def test_activation_difference_matches_rows_by_stimulus():
    files = [plain(["a", "b"], [[1, 2], [3, 4]]), plain(["c"], [[5, 8]])]
    assert (
        export.activation_difference(plain(["c", "a", "b"], [[5, 8], [1, 2], [3, 4]]), files) == 0
    )
    gap = export.activation_difference(plain(["b", "c"], [[3, 4], [5, 6]]), files)
    assert gap == pytest.approx(2 / 8)
    assert export.activation_difference(plain(["a"], [[1, 2, 3]]), files) == float("inf")
    with pytest.raises(ParameterError, match="scored image d, in no activations file"):
        export.activation_difference(plain(["d"], [[1, 2]]), files, benchmark="X.V4-rdm")


def test_cli_without_brainscore_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "brainscore_core", None)
    argv = ["export-benchmark", "--benchmark", "B", "--model", "M", "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    assert "Brain-Score environment" in capsys.readouterr().err


def test_written_files_appear_together_or_not_at_all(tmp_path):
    folder = tmp_path / "out" / "V4"
    paths = [folder / name for name in export.FILES]
    arrays = [plain(["a"], [[1, 2]]), plain(["b"], [[3, 4]])]
    with pytest.raises(TypeError):
        export._write_all(paths, arrays, [{"score": 1.0}, {"bad": object()}])
    assert list(folder.iterdir()) == []
    export._write_all(paths, arrays, [{"score": 1.0}, {"score": 2.0}])
    assert sorted(p.name for p in folder.iterdir()) == sorted(export.FILES)
    assert json.loads(paths[3].read_text()) == {"score": 2.0}
