"""ReportRecord: its JSON form, the round trip, versions, and reading results back."""

import dataclasses
import json
import pickle

import pytest

from nsdval.analysis.record import (
    SCHEMA_VERSION,
    ReportRecord,
    read_results,
    results_from_json,
    results_to_json,
)
from nsdval.errors import InputError, MissingInputError
from nsdval.run import incremental

# The keys of a report in results.json, in order, as every nsdval since families (schema
# version 2) wrote them: the record's JSON form must not drift from it.
RESULTS_KEYS = [
    "id",
    "template",
    "subject",
    "region",
    "family",
    "status",
    "notebook",
    "html",
    "seconds",
    "parameters",
    "checks",
    "error",
    "rerun",
    "benchmark",
    "fingerprint",
]


def full_record(**changes):
    """A record with every field set, as a run of assembly_validation writes it."""
    check = {
        "section": "1. Values",
        "name": "train-values",
        "status": "fail",
        "value": 4.59,
        "threshold": 1e-05,
        "detail": "max |diff| 4.59e+00",
        "subject": "subj01",
        "region": "V4",
    }
    values = {
        "id": "subj01-V4-assembly_validation",
        "template": "assembly_validation",
        "subject": "subj01",
        "region": "V4",
        "status": "fail",
        "notebook": "subj01/V4/assembly_validation.ipynb",
        "html": "subj01/V4/assembly_validation.html",
        "seconds": 2.35,
        "parameters": {"nsd_root": "/data/nsd", "subject": 1, "region": "V4", "seed": 0},
        "checks": [check, {**check, "name": "nc", "status": "pass", "value": "nan"}],
        "error": None,
        "rerun": {"at": "2026-11-24T10:00:00+00:00", "overrides": {"tolerance": 0.001}},
        "benchmark": {"V4": {"reported": {"score": 0.25}, "replica": {"score": None}}},
        "fingerprint": "ab" * 32,
    }
    return ReportRecord(**{**values, **changes})


def test_the_json_form_holds_every_field_in_the_order_of_results_json():
    data = full_record().to_dict()
    assert list(data) == RESULTS_KEYS
    assert [f.name for f in dataclasses.fields(ReportRecord)] == RESULTS_KEYS
    assert isinstance(data["checks"], list) and data["checks"][1]["value"] == "nan"


def test_round_trip_through_to_dict_and_json():
    record = full_record()
    assert ReportRecord.from_dict(record.to_dict()) == record
    text = json.dumps(record.to_dict(), indent=2)
    back = ReportRecord.from_dict(json.loads(text))
    assert back == record
    assert json.dumps(back.to_dict(), indent=2) == text


def test_an_error_record_round_trips():
    error = {"ename": "ValueError", "evalue": "boom", "cell_index": 4, "traceback": "T"}
    record = full_record(status="error", checks=[], error={**error, "cell_source": "x"})
    assert ReportRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_records_survive_pickling_for_the_worker_processes():
    record = full_record()
    assert pickle.loads(pickle.dumps(record)) == record


def test_records_are_frozen_and_to_dict_returns_copies():
    record = full_record()
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.status = "pass"
    data = record.to_dict()
    data["parameters"]["seed"] = 99
    data["checks"][0]["status"] = "pass"
    assert record.parameters["seed"] == 0 and record.checks[0]["status"] == "fail"
    assert dataclasses.replace(record, status="pass").status == "pass"


def test_checks_are_held_as_a_tuple_of_copies():
    checks = [{"name": "a", "status": "pass"}]
    record = ReportRecord(id="r", template="t", status="pass", checks=checks)
    checks[0]["status"] = "fail"
    assert record.checks == ({"name": "a", "status": "pass"},)
    with pytest.raises(ValueError, match="checks must be a list of objects"):
        ReportRecord(id="r", template="t", status="pass", checks=["train-values"])
    with pytest.raises(ValueError, match="checks must be a list of objects"):
        ReportRecord(id="r", template="t", status="pass", checks={"name": "a"})


@pytest.mark.parametrize("status", ["unknown", "PASS", None])
def test_an_unknown_status_is_refused(status):
    with pytest.raises(ValueError, match=f"report 'r' has status {status!r}; expected one of"):
        ReportRecord(id="r", template="t", status=status)


def test_id_and_template_are_strings():
    with pytest.raises(ValueError, match="report record's id is a string, not 3"):
        ReportRecord(id=3, template="t", status="pass")
    with pytest.raises(ValueError, match="report record's template is a string, not None"):
        ReportRecord.from_dict({"id": "r", "template": None, "status": "pass"})


def test_a_sidecar_with_its_schema_version_and_no_extra_reads_back():
    record = full_record()
    sidecar = {"schema_version": SCHEMA_VERSION, **record.to_dict()}
    assert ReportRecord.from_dict(sidecar) == record


@pytest.mark.parametrize(
    ("version", "whose"),
    [(SCHEMA_VERSION + 1, "written by a newer nsdval"), ("1", "not written by nsdval")],
)
def test_another_schema_version_is_refused_saying_whose_it_may_be(version, whose):
    data = {"schema_version": version, **full_record().to_dict()}
    message = (
        f"report record 'subj01-V4-assembly_validation' has schema_version {version!r}, "
        f"this nsdval reads 1, 2 and {SCHEMA_VERSION}: {whose}"
    )
    with pytest.raises(ValueError, match=message):
        ReportRecord.from_dict(data)


def test_missing_optional_keys_take_their_defaults():
    # a record of an nsdval before incremental runs has no fingerprint
    older = full_record().to_dict()
    del older["fingerprint"]
    assert ReportRecord.from_dict(older) == full_record(fingerprint=None)
    minimal = ReportRecord.from_dict({"id": "r", "template": "t", "status": "warn"})
    assert minimal.checks == () and minimal.parameters == {} and minimal.html is None


@pytest.mark.parametrize("key", ["id", "template", "status"])
def test_a_missing_required_key_is_refused(key):
    data = full_record().to_dict()
    del data[key]
    with pytest.raises(ValueError, match=f"lacks {key}$"):
        ReportRecord.from_dict(data)


def test_unknown_keys_are_refused_by_name():
    data = {**full_record().to_dict(), "unchanged": True, "extra": {}}
    with pytest.raises(ValueError, match="has unknown keys unchanged, extra$"):
        ReportRecord.from_dict(data)


def test_only_objects_are_records():
    with pytest.raises(ValueError, match="a report record is a JSON object, not list"):
        ReportRecord.from_dict([("id", "r")])


# --- results.json ---------------------------------------------------------------------------


def results_payload(**changes):
    return {
        "schema_version": SCHEMA_VERSION,
        "nsdval_version": "0.1.0",
        "created": "2026-11-24T08:25:44+00:00",
        "nsd_root": "/data/nsd",
        "status": "fail",
        "reports": [full_record().to_dict()],
        "benchmark": {},
        **changes,
    }


def test_results_read_back_as_records_and_written_as_they_were():
    payload = results_payload()
    results = results_from_json(json.loads(json.dumps(payload)), source="run")
    assert results["reports"] == [full_record()]
    assert list(results) == list(payload)
    assert json.dumps(results_to_json(results)) == json.dumps(payload)


def test_results_without_a_schema_version_are_read_as_this_one():
    payload = results_payload()
    del payload["schema_version"]
    assert results_from_json(payload, source="run")["reports"] == [full_record()]


def test_records_of_version_1_read_as_the_volume_8subj_family():
    old = full_record().to_dict()
    del old["family"]
    payload = {**results_payload(), "schema_version": 1, "reports": [old]}
    (record,) = results_from_json(payload, source="run")["reports"]
    assert record.family == "volume_8subj"
    assert ReportRecord.from_dict({"schema_version": 1, **old}).family == "volume_8subj"


def test_results_of_a_newer_nsdval_are_refused_naming_the_run():
    payload = results_payload(schema_version=SCHEMA_VERSION + 1)
    message = r"^run: results.json has schema_version 4, this nsdval reads 1, 2 and 3: written by "
    with pytest.raises(InputError, match=message):
        results_from_json(payload, source="run")


def test_a_bad_record_in_results_is_named_with_the_file():
    payload = results_payload()
    del payload["reports"][0]["status"]
    match = "^run: results.json: report record 'subj01-V4-assembly_validation' lacks status$"
    with pytest.raises(InputError, match=match):
        results_from_json(payload, source="run")
    with pytest.raises(InputError, match="^run: results.json has no list of reports$"):
        results_from_json({"reports": {}}, source="run")


def test_read_results_names_a_missing_or_malformed_file(tmp_path):
    with pytest.raises(MissingInputError, match="results.json: missing run results.json"):
        read_results(tmp_path)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(InputError, match="results.json: not valid JSON"):
        read_results(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps(results_payload()))
    assert read_results(tmp_path)["reports"] == [full_record()]


# --- incremental runs read records back -------------------------------------------------


def write_sidecar(out, record, **extra):
    folder = out / record.html.rpartition("/")[0]
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"schema_version": SCHEMA_VERSION, **record.to_dict(), "extra": {}, **extra}
    (folder / "results.json").write_text(json.dumps(payload))
    return folder / "results.json"


def test_previous_records_take_sidecars_over_results_json(tmp_path):
    listed = full_record(status="pass")
    (tmp_path / "results.json").write_text(json.dumps(results_payload(reports=[listed.to_dict()])))
    assert incremental.previous_records(tmp_path) == {listed.id: listed}
    newer = full_record(seconds=9.0)
    write_sidecar(tmp_path, newer)
    assert incremental.previous_records(tmp_path) == {newer.id: newer}


def test_sidecars_without_a_fingerprint_are_not_records(tmp_path):
    path = write_sidecar(tmp_path, full_record(fingerprint=None))
    assert incremental.sidecar_record(path) is None


def test_previous_records_of_a_newer_nsdval_stop_the_run_naming_the_file(tmp_path):
    path = write_sidecar(tmp_path, full_record(), schema_version=SCHEMA_VERSION + 1)
    with pytest.raises(InputError, match="written by a newer nsdval; --force runs every report"):
        incremental.previous_records(tmp_path)
    path.unlink()
    newer = results_payload(schema_version=SCHEMA_VERSION + 1)
    (tmp_path / "results.json").write_text(json.dumps(newer))
    with pytest.raises(InputError, match=f"^{tmp_path}: results.json has schema_version 4"):
        incremental.previous_records(tmp_path)


def test_a_results_json_of_something_else_is_no_previous_run(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"score": 1}))
    assert incremental.previous_records(tmp_path) == {}
    (tmp_path / "results.json").write_text("{truncated")
    assert incremental.previous_records(tmp_path) == {}


def test_a_surface_record_of_version_2_reads_with_the_surface_check_names():
    checks = [
        {"name": "voxel-coords", "status": "fail", "section": "2. Raw HDF5 bypass"},
        {"name": "nc-testset-volume", "status": "pass"},
        {"name": "train-values", "status": "pass", "section": "1. Region assembly"},
    ]
    old = {**full_record().to_dict(), "family": "surface_8subj", "checks": checks}
    payload = {**results_payload(), "schema_version": 2, "reports": [old]}
    (record,) = results_from_json(payload, source="run")["reports"]
    names = [c["name"] for c in record.checks]
    assert names == ["vertex-coords", "nc-testset-surface", "train-values"]
    assert record.checks[0]["status"] == "fail"
    assert [c.get("section") for c in record.checks] == [
        "2. Raw betas bypass",  # the section is renamed in every family
        None,
        "1. Region assembly",
    ]
    sidecar = ReportRecord.from_dict({"schema_version": 2, **old})
    assert [c["name"] for c in sidecar.checks] == names
    # a volume record keeps its names, and a version-3 surface record is read as written
    volume = ReportRecord.from_dict({"schema_version": 2, **old, "family": "volume_8subj"})
    assert volume.checks[0]["name"] == "voxel-coords"
    assert volume.checks[0]["section"] == "2. Raw betas bypass"
    assert ReportRecord.from_dict({"schema_version": 3, **old}).checks[0]["name"] == (
        "voxel-coords"
    )
