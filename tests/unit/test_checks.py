import json

import numpy as np
import pytest

from nsdval.analysis import checks


def test_difference_check_passes_within_and_fails_beyond_tolerance():
    a = np.zeros((3, 4))
    ok = checks.difference_check(
        section="s", name="n", reproduced=a, actual=a + 1e-6, tolerance=1e-5
    )
    bad = checks.difference_check(
        section="s", name="n", reproduced=a, actual=a + 1e-4, tolerance=1e-5
    )
    assert (ok.status, bad.status) == ("pass", "fail")
    assert bad.value == pytest.approx(1e-4)
    assert "3 x 4" in ok.detail


def test_difference_check_fails_on_nan_shape_mismatch_and_empty():
    a = np.zeros(4)
    b = a.copy()
    b[2] = np.nan
    nan = checks.difference_check(section="s", name="n", reproduced=a, actual=b, tolerance=1)
    assert nan.status == "fail" and "1 of 4" in nan.detail
    shape = checks.difference_check(section="s", name="n", reproduced=a, actual=a[:3], tolerance=1)
    assert shape.status == "fail" and "shapes differ" in shape.detail
    empty = checks.difference_check(section="s", name="n", reproduced=[], actual=[], tolerance=1)
    assert empty.status == "fail"


def test_equality_check_names_the_first_mismatch():
    res = checks.equality_check(
        section="s", name="n", expected=["a", "b", "c"], actual=["a", "x", "y"], what="ids"
    )
    assert res.status == "fail"
    assert res.detail == "first of 2 mismatching ids at position 1: expected b, found x"
    sizes = checks.equality_check(section="s", name="n", expected=[1, 2], actual=[1])
    assert sizes.status == "fail" and "expected 2 entries, found 1" in sizes.detail


def test_check_result_refuses_unknown_status_and_keeps_json_plain():
    with pytest.raises(ValueError, match="status must be one of"):
        checks.CheckResult("s", "n", "ok")
    res = checks.CheckResult("s", "n", "fail", np.float32(np.inf), np.int64(3))
    assert json.dumps(res.to_dict())  # no numpy scalars, no bare inf
    assert res.value == "inf" and res.threshold == 3


def test_check_log_scopes_sorts_and_writes_a_sidecar(tmp_path):
    log = checks.CheckLog(subject="subj01", region="V4")
    log.add(checks.CheckResult("a", "one", "pass"))
    log.extend([checks.CheckResult("a", "two", "fail"), checks.CheckResult("b", "three", "warn")])
    assert log.status == "fail"
    assert log.table()["name"].tolist() == ["two", "three", "one"]
    assert log.table("b")["name"].tolist() == ["three"]
    path = log.write(tmp_path / "x" / "results.json", template="t", parameters={"k": 1})
    payload = checks.read_sidecar(path)
    assert payload["status"] == "fail" and payload["parameters"] == {"k": 1}
    assert {c["subject"] for c in payload["checks"]} == {"subj01"}
    assert not list(path.parent.glob("*.tmp"))


def test_read_sidecar_refuses_other_schema_versions(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(ValueError, match="unsupported schema_version 99"):
        checks.read_sidecar(path)
