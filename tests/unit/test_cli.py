import argparse
from dataclasses import replace

import pytest

from nsdval import cli
from nsdval.analysis.record import ReportRecord
from nsdval.cli import commands, environment, types
from nsdval.run import runner

STRUCTURE = ReportRecord(
    id="assembly_structure", template="assembly_structure", status="pass", seconds=1.0
)
FAKE_RESULTS = {"status": "pass", "reports": [STRUCTURE]}


@pytest.fixture
def captured(monkeypatch):
    seen = {}

    def fake_run_reports(config, *, on_report=None, on_progress=None):
        seen["config"] = config
        seen["on_progress"] = on_progress
        reports = seen.get("results", FAKE_RESULTS)["reports"]
        for done, record in enumerate(reports, 1):
            on_report(record, done, len(reports))
        return seen.get("results", FAKE_RESULTS)

    monkeypatch.setattr(runner, "run_reports", fake_run_reports)
    return seen


def test_run_builds_the_config_from_options(captured, tmp_path, capsys):
    code = cli.main(
        [
            "run",
            "--nsd-root",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
            "--subjects",
            "1-3,5",
            "--regions",
            "V1,V4",
            "--jobs",
            "2",
            "-p",
            "tolerance=1e-6",
            "-p",
            "seed=3",
            "--brainscore-dir",
            str(tmp_path / "bs"),
        ]
    )
    config = captured["config"]
    assert code == 0
    assert config.subjects == (1, 2, 3, 5)
    assert config.regions == ("V1", "V4")
    assert config.jobs == 2
    assert config.parameters == {"tolerance": 1e-6, "seed": 3}
    assert config.folders["brainscore_dir"] == tmp_path / "bs"
    assert config.folders["assemblies_dir"] is None
    assert config.command.startswith("nsdval run --nsd-root")
    assert config.cache is True
    out = capsys.readouterr().out
    assert "pass" in out and "index.html" in out


@pytest.mark.parametrize(
    ("value", "warm"),
    [(None, True), ("1", True), ("yes", True), ("0", False), ("off", False), (" False ", False)],
)
def test_nsdval_warm_kernels_reaches_the_run_config(captured, tmp_path, monkeypatch, value, warm):
    monkeypatch.delenv(environment.WARM_KERNELS_ENV, raising=False)
    if value is not None:
        monkeypatch.setenv(environment.WARM_KERNELS_ENV, value)
    cli.main(["run", "--nsd-root", str(tmp_path), "--out", str(tmp_path / "o")])
    assert captured["config"].warm_kernels is warm


def test_rerun_passes_the_warm_kernels_setting(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_rerun_report(path, overrides, *, timeout=None, warm_kernels=True):
        seen["warm_kernels"] = warm_kernels
        return replace(STRUCTURE, id="x")

    monkeypatch.setattr(runner, "rerun_report", fake_rerun_report)
    monkeypatch.setattr(runner, "find_run_root", lambda path: tmp_path)
    monkeypatch.setenv(environment.WARM_KERNELS_ENV, "0")
    assert cli.main(["rerun", str(tmp_path)]) == 0
    assert seen == {"warm_kernels": False}


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["rerun", "--help"]])
def test_the_help_names_the_environment_variable(argv, capsys):
    with pytest.raises(SystemExit):
        cli.main(argv)
    assert f"{environment.WARM_KERNELS_ENV}=0" in capsys.readouterr().out


def test_no_cache_turns_the_extraction_cache_off(captured, tmp_path):
    cli.main(["run", "--nsd-root", str(tmp_path), "--out", str(tmp_path / "o"), "--no-cache"])
    assert captured["config"].cache is False


def test_run_exits_1_when_a_check_fails(captured, tmp_path, capsys):
    split_seed = {"name": "split-seed", "status": "fail"}
    failing = replace(STRUCTURE, status="fail", checks=[split_seed])
    captured["results"] = {"status": "fail", "reports": [failing]}
    assert cli.main(["run", "--nsd-root", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    assert "split-seed" in capsys.readouterr().out


def test_progress_lines_name_reports_kept_unchanged(capsys):
    record = replace(STRUCTURE, subject="subj01", region="V4", seconds=12.3)
    commands.print_progress(record, 3, 12)
    commands.print_progress(record, 4, 12, unchanged=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[ 3/12] pass  subj01 V4  assembly_structure     12.3 s"
    assert lines[1] == "[ 4/12] pass  subj01 V4  assembly_structure   unchanged"


def test_missing_root_is_one_line_and_exit_2(tmp_path, capsys):
    code = cli.main(["run", "--nsd-root", str(tmp_path / "absent"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "absent: missing NSD root folder" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_debug_shows_the_exception(tmp_path):
    with pytest.raises(FileNotFoundError):
        cli.main(
            ["--debug", "run", "--nsd-root", str(tmp_path / "absent"), "--out", str(tmp_path)]
        )


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--nsd-root", ".", "--out", "o", "--subjects", "one"],
        ["run", "--nsd-root", ".", "--out", "o", "--regions", "V3"],
        ["run", "--nsd-root", ".", "--out", "o", "-p", "novalue"],
        ["run", "--nsd-root", ".", "--out", "o", "--jobs", "0"],
        ["bogus"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tolerance=1e-6", ("tolerance", 1e-6)),
        ("spot_checks=7", ("spot_checks", 7)),
        ("flag=True", ("flag", True)),
        ("flag=false", ("flag", False)),
        ("variant=_8subj", ("variant", "_8subj")),
        ("path=/a/b", ("path", "/a/b")),
        ("region=[1]", ("region", "[1]")),
    ],
)
def test_parse_parameter(text, expected):
    assert types.parse_parameter(text) == expected


def test_parse_subjects_refuses_garbage():
    with pytest.raises(argparse.ArgumentTypeError, match="expected e.g. 1-8"):
        types.parse_subjects("1-x")


def test_version_and_help_list_the_subcommands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in ("run", "demo", "rerun", "synth", "index"):
        assert command in out
