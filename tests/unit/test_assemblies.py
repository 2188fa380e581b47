import json
import re

import numpy as np
import pytest
import xarray as xr

from nsdval.data import assemblies
from nsdval.errors import InputError, MissingInputError


def make_assembly(n_images=4, n_neuroids=3):
    values = np.arange(n_images * 3 * n_neuroids, dtype=np.float32).reshape(
        n_images * 3, n_neuroids, 1
    )
    return xr.DataArray(
        values,
        dims=("presentation", "neuroid", "time_bin"),
        coords={
            "nsd_id": ("presentation", np.repeat([30, 10, 20, 40][:n_images], 3)),
            "stimulus_id": (
                "presentation",
                [f"nsd_{i:05d}" for i in np.repeat([30, 10, 20, 40], 3)],
            ),
            "repetition": ("presentation", np.tile([0, 1, 2], n_images)),
            "subject": ("neuroid", ["subj01", "subj01", "subj02"]),
            "region": ("neuroid", ["V1", "V4", "V4"]),
            "time_bin_start": ("time_bin", [70]),
        },
    )


def test_repetition_values_arrange_by_repetition_and_sorted_image():
    test = make_assembly()
    out = assemblies.repetition_values(test, np.array([10, 20, 30, 40]))
    assert out.shape == (3, 4, 3)
    # image 10 is the second block of three presentations (rows 3, 4, 5)
    np.testing.assert_array_equal(out[:, 0, 0], test.values[3:6, 0, 0])
    np.testing.assert_array_equal(out[2, 2], test.values[2, :, 0])


def test_repetition_values_leave_nan_for_absent_images():
    out = assemblies.repetition_values(make_assembly(), np.array([10, 99]))
    assert np.isnan(out[:, 1]).all() and not np.isnan(out[:, 0]).any()


def test_neuroid_mask_selects_subject_and_region():
    test = make_assembly()
    assert assemblies.neuroid_mask(test, subject="subj01").tolist() == [True, True, False]
    assert assemblies.neuroid_mask(test, region="V4").tolist() == [False, True, True]
    assert assemblies.neuroid_mask(test, subject="subj01", region="V4").tolist() == [
        False,
        True,
        False,
    ]


def test_load_dataarray_checks_dims_and_coordinates(tmp_path):
    path = tmp_path / "a.nc"
    make_assembly().to_netcdf(path, engine="h5netcdf")
    loaded = assemblies.load_dataarray(
        path, dims=("presentation", "neuroid", "time_bin"), coords=("nsd_id",)
    )
    assert loaded.sizes["presentation"] == 12
    with pytest.raises(InputError, match="a.nc: test lacks coordinate 'nc_testset'"):
        assemblies.load_dataarray(
            path, dims=("presentation", "neuroid", "time_bin"), coords=("nc_testset",), what="test"
        )
    with pytest.raises(InputError, match=r"dims are \('presentation', 'neuroid', 'time_bin'\)"):
        assemblies.load_dataarray(path, dims=("presentation", "neuroid"))
    with pytest.raises(MissingInputError, match="b.nc: missing assembly"):
        assemblies.load_dataarray(tmp_path / "b.nc", dims=())
    (tmp_path / "bad.nc").write_text("garbage")
    with pytest.raises(InputError, match="bad.nc: not a readable netCDF DataArray"):
        assemblies.load_dataarray(tmp_path / "bad.nc", dims=())


def test_load_split_and_score_name_missing_fields(tmp_path):
    (tmp_path / "s.csv").write_text("stimulus_id,nsd_id\nnsd_00001,1\n")
    with pytest.raises(InputError, match="s.csv: split CSV lacks column 'split'"):
        assemblies.load_split(tmp_path / "s.csv")
    (tmp_path / "score.json").write_text(json.dumps({"score": 1, "raw": 1, "ceiling": 1}))
    with pytest.raises(InputError, match="score JSON lacks key 'subjects'"):
        assemblies.load_score(tmp_path / "score.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputError, match="bad.json: not valid JSON"):
        assemblies.load_score(tmp_path / "bad.json")


RDM_SCORE = {
    "benchmark": "Allen2022_fmri.V4-rdm",
    "score": 0.5,
    "raw": 0.3,
    "ceiling": 0.6,
    "lower_bound_loo": 0.4,
    "subjects": {"subj01": {"raw": 0.25}, "subj02": {"raw": 0.35}},
}


def test_the_rdm_score_is_optional_and_read_when_there(tmp_path):
    path = tmp_path / "score_rdm.json"
    assert assemblies.load_rdm_score(path) is None
    path.write_text(json.dumps(RDM_SCORE))
    assert assemblies.load_rdm_score(path) == RDM_SCORE
    without_bound = {k: v for k, v in RDM_SCORE.items() if k != "lower_bound_loo"}
    path.write_text(json.dumps(without_bound))
    assert assemblies.load_rdm_score(path) == without_bound


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "score_rdm.json: not valid JSON"),
        ("[1, 2]", "score_rdm.json: rdm score JSON should be an object, found list"),
        (
            json.dumps({k: v for k, v in RDM_SCORE.items() if k != "ceiling"}),
            "score_rdm.json: rdm score JSON lacks key 'ceiling'",
        ),
        (
            json.dumps({**RDM_SCORE, "lower_bound_loo": "0.4"}),
            "score_rdm.json: rdm score JSON 'lower_bound_loo' should be a number, found '0.4'",
        ),
        (
            json.dumps({**RDM_SCORE, "subjects": {"subj01": {"raw": None}}}),
            "'subjects.subj01.raw' should be a number, found None",
        ),
        (
            json.dumps({**RDM_SCORE, "subjects": [0.25, 0.35]}),
            "'subjects' should map labels to objects",
        ),
    ],
)
def test_a_malformed_rdm_score_names_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "score_rdm.json"
    path.write_text(content)
    with pytest.raises(InputError, match=re.escape(message)):
        assemblies.load_rdm_score(path)
