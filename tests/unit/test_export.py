import sys
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from nsdval import cli
from nsdval.analysis import export
from nsdval.errors import DependencyError, InputError, OutputError


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


def test_cli_calls_export_benchmark_and_prints_the_files(tmp_path, capsys):
    files = [tmp_path / "V4" / name for name in export.FILES]
    score = {"benchmark": "B", "model": "M", "score": 0.2, "raw": 0.3, "ceiling": 0.4}
    result = {"folder": tmp_path / "V4", "files": files, "score": score}
    with mock.patch.object(export, "export_benchmark", return_value=result) as called:
        code = cli.main(
            ["export-benchmark", "--benchmark", "B", "--model", "M", "--out", str(tmp_path)]
        )
    assert code == 0
    called.assert_called_once_with(benchmark="B", model="M", out_dir=tmp_path, overwrite=False)
    out = capsys.readouterr().out
    assert str(files[2].resolve()) in out and "B M: score 0.2000, raw 0.3000" in out


def test_cli_without_brainscore_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "brainscore_core", None)
    argv = ["export-benchmark", "--benchmark", "B", "--model", "M", "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    assert "Brain-Score environment" in capsys.readouterr().err
