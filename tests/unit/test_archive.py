"""Release archives of hand-built run folders: determinism, content, manifest, refusals."""

import hashlib
import io
import json
import os
import tarfile
from datetime import datetime

import pytest

from nsdval.cli import main
from nsdval.errors import InputError, MissingInputError, OutputError, ParameterError
from nsdval.release import archive, manifest


def members(path):
    with tarfile.open(path, "r:gz") as tar:
        return tar.getmembers(), {
            m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()
        }


def read_manifest(path, release="v1.2"):
    return json.loads(members(path)[1][f"nsdval-{release}/manifest.json"])


@pytest.mark.parametrize("tag", ["v1.2", "2026-11-24", "v1.3rc1+nsd_8subj"])
def test_archive_name_accepts_file_name_safe_tags(tag):
    assert archive.archive_name(tag) == f"nsdval-{tag}.tar.gz"


@pytest.mark.parametrize("tag", ["", "v1/2", "../x", ".hidden", "v 1", None])
def test_archive_name_refuses_other_tags(tag):
    with pytest.raises(ParameterError, match="parameter 'release': expected letters"):
        archive.archive_name(tag)


def test_archiving_twice_gives_identical_bytes(run_dir, tmp_path):
    first = archive.create_archive(run_dir, release="v1.2", out_dir=tmp_path / "a")
    for path in run_dir.rglob("*"):
        os.utime(path, (1, 1))  # file times must not leak into the archive
    second = archive.create_archive(run_dir, release="v1.2", out_dir=tmp_path / "b", workers=1)
    assert first.name == "nsdval-v1.2.tar.gz"
    assert first.read_bytes() == second.read_bytes()


def test_default_folder_is_the_one_holding_the_run(run_dir):
    path = archive.create_archive(run_dir, release="v1")
    assert path == run_dir.parent / "nsdval-v1.tar.gz"


def test_entries_are_sorted_with_fixed_times_and_owners(run_dir, tmp_path):
    entries, _ = members(archive.create_archive(run_dir, release="v1.2", out_dir=tmp_path))
    names = [m.name for m in entries]
    assert names[0] == "nsdval-v1.2"
    assert names[1:] == sorted(names[1:])
    assert all(n.startswith("nsdval-v1.2/") for n in names[1:])
    epoch = int(datetime.fromisoformat("2026-11-24T08:25:44+00:00").timestamp())
    for m in entries:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (epoch, 0, 0, "", "")
        assert m.mode == (0o755 if m.isdir() else 0o644)


def test_archive_holds_the_run_outputs_manifest_and_sums(run_dir, tmp_path):
    (run_dir / ".cache").mkdir()
    (run_dir / ".cache" / "subj01.npz").write_bytes(b"cache")
    (run_dir / "compare.html").write_text("stray")
    _, files = members(archive.create_archive(run_dir, release="v1.2", out_dir=tmp_path))
    names = {n.removeprefix("nsdval-v1.2/") for n in files}
    assert names == {
        "SHA256SUMS",
        "manifest.json",
        "index.html",
        "results.json",
        "structure/assembly_structure.ipynb",
        "structure/assembly_structure.html",
        "structure/results.json",
        "subj01/V4/assembly_validation.ipynb",
        "subj01/V4/assembly_validation.html",
        "subj01/V4/results.json",
    }
    for name in names - {"SHA256SUMS", "manifest.json"}:
        assert files[f"nsdval-v1.2/{name}"] == (run_dir / name).read_bytes()


def test_sha256sums_covers_every_other_file_in_sha256sum_format(run_dir, tmp_path):
    _, files = members(archive.create_archive(run_dir, release="v1.2", out_dir=tmp_path))
    lines = files["nsdval-v1.2/SHA256SUMS"].decode().splitlines()
    listed = [line.split("  ", 1)[1] for line in lines]
    assert listed == sorted(listed)
    assert set(listed) == {n.removeprefix("nsdval-v1.2/") for n in files} - {"SHA256SUMS"}
    for line in lines:
        digest, name = line.split("  ", 1)
        assert hashlib.sha256(files[f"nsdval-v1.2/{name}"]).hexdigest() == digest


def test_manifest_extends_the_run_manifest(run_dir, tmp_path, nsd_root):
    path = archive.create_archive(run_dir, release="v1.2", out_dir=tmp_path)
    out = read_manifest(path)
    run = json.loads((run_dir / "manifest.json").read_text())
    assert out["release"] == "v1.2"
    for key in ("created", "command", "parameters", "packages", "python", "timings"):
        assert out[key] == run[key]
    assert [{k: v for k, v in e.items() if k != "mtime_ns"} for e in out["inputs"]] == run[
        "inputs"
    ]
    assert out["nsd_root"] == str(nsd_root)
    assert out["reports"]["subj01-V4-assembly_validation"]["parameters"]["region"] == "V4"
    assert out["files"]["index.html"]["sha256"] == manifest.sha256_file(run_dir / "index.html")
    assert set(out["archive"]) >= {"input_hash", "nsdval_version", "git_commit", "python"}
    assert out["archive"]["input_hash"] == "sha256"
    commit = out["archive"]["git_commit"]
    assert commit is None or len(commit) == 40


def test_size_mtime_mode_records_size_and_mtime_only(run_dir, tmp_path, nsd_root):
    path = archive.create_archive(
        run_dir, release="v1.2", out_dir=tmp_path, hash_mode="size-mtime"
    )
    inputs = read_manifest(path)["inputs"]
    beta = nsd_root / "subj01/betas/betas_session01.hdf5"
    entry = next(i for i in inputs if i["path"] == "subj01/betas/betas_session01.hdf5")
    assert entry == {
        "path": "subj01/betas/betas_session01.hdf5",
        "size": beta.stat().st_size,
        "hash": "size-mtime",
        "mtime_ns": beta.stat().st_mtime_ns,
    }


def test_inputs_are_found_under_a_moved_nsd_root(run_dir, tmp_path, nsd_root):
    moved = nsd_root.rename(tmp_path / "moved")
    path = archive.create_archive(run_dir, release="v1.2", out_dir=tmp_path, nsd_root=moved)
    assert len(read_manifest(path)["inputs"]) == 2


def test_an_existing_archive_is_replaced_only_with_overwrite(run_dir, tmp_path):
    path = archive.create_archive(run_dir, release="v1.2", out_dir=tmp_path)
    with pytest.raises(OutputError, match="nsdval-v1.2.tar.gz: archive exists"):
        archive.create_archive(run_dir, release="v1.2", out_dir=tmp_path)
    data = path.read_bytes()
    assert archive.create_archive(run_dir, release="v1.2", out_dir=tmp_path, overwrite=True)
    assert path.read_bytes() == data


def test_a_missing_report_file_is_named(run_dir, tmp_path):
    (run_dir / "subj01/V4/assembly_validation.html").unlink()
    with pytest.raises(MissingInputError, match="assembly_validation.html: missing run output"):
        archive.create_archive(run_dir, release="v1.2", out_dir=tmp_path)
    assert list(tmp_path.glob("*.tar.gz")) == []


@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/passwd", ""])
def test_a_report_path_outside_the_run_is_refused(run_dir, tmp_path, bad):
    results = json.loads((run_dir / "results.json").read_text())
    results["reports"][1]["html"] = bad
    (run_dir / "results.json").write_text(json.dumps(results))
    with pytest.raises(InputError, match="results.json: report path .* leaves the run folder"):
        archive.create_archive(run_dir, release="v1.2", out_dir=tmp_path)


def test_an_input_changed_since_the_run_is_refused(run_dir, tmp_path, nsd_root):
    (nsd_root / "metadata/nsd_expdesign.mat").write_bytes(b"DESIGN")
    with pytest.raises(InputError, match="nsd_expdesign.mat: changed since the run"):
        archive.create_archive(run_dir, release="v1.2", out_dir=tmp_path)


def test_a_missing_input_is_named(run_dir, tmp_path, nsd_root):
    (nsd_root / "metadata/nsd_expdesign.mat").unlink()
    with pytest.raises(MissingInputError, match="nsd_expdesign.mat: missing input file"):
        archive.create_archive(run_dir, release="v1.2", out_dir=tmp_path)


def test_a_folder_that_is_not_a_finished_run_is_refused(tmp_path):
    with pytest.raises(MissingInputError, match="results.json: missing run results.json"):
        archive.create_archive(tmp_path, release="v1.2")
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(InputError, match="results.json: not valid JSON"):
        archive.create_archive(tmp_path, release="v1.2")


def test_a_file_changing_while_archived_leaves_no_archive(run_dir, tmp_path, monkeypatch):
    real = manifest.sha256_file
    monkeypatch.setattr(
        manifest,
        "sha256_file",
        lambda p, **kw: "0" * 64 if str(p).endswith("index.html") else real(p, **kw),
    )
    with pytest.raises(InputError, match="index.html: changed while it was being archived"):
        archive.create_archive(run_dir, release="v1.2", out_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nsd", "run"]


def test_sums_round_trip():
    digests = {"b/x.html": "ab" * 32, "a.json": "cd" * 32}
    text = archive.format_sums(digests)
    assert text.splitlines()[0] == f"{'cd' * 32}  a.json"
    assert archive.parse_sums(text) == (digests, [])
    assert archive.parse_sums(text + "nonsense\n" + text.splitlines()[0]) == (digests, [3, 4])


def test_cli_archive_prints_the_path_and_refuses_a_second_write(run_dir, tmp_path, capsys):
    assert main(["archive", str(run_dir), "--release", "v1.2", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path.resolve() / "nsdval-v1.2.tar.gz")
    assert main(["archive", str(run_dir), "--release", "v1.2", "--out", str(tmp_path)]) == 2
    assert "archive exists" in capsys.readouterr().err
    args = ["archive", str(run_dir), "--release", "v1.2", "--out", str(tmp_path), "--overwrite"]
    assert main([*args, "--hash", "size-mtime", "--jobs", "1"]) == 0


def test_cli_archive_rejects_a_bad_tag_and_hash_mode(run_dir, capsys):
    assert main(["archive", str(run_dir), "--release", "a/b"]) == 2
    assert "parameter 'release'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["archive", str(run_dir), "--release", "v1", "--hash", "md5"])


def test_archive_stream_is_gzip_with_no_name_or_time(run_dir, tmp_path):
    data = archive.create_archive(run_dir, release="v1.2", out_dir=tmp_path).read_bytes()
    assert data[:4] == b"\x1f\x8b\x08\x00"  # gzip, deflate, no FNAME flag
    assert data[4:8] == b"\x00\x00\x00\x00"  # mtime 0
    assert tarfile.open(fileobj=io.BytesIO(data), mode="r:gz").getnames()
