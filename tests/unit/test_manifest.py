import hashlib
import os
import shutil
import subprocess

import pytest

from nsdval.errors import ParameterError
from nsdval.release import manifest


def test_sha256_streams_in_chunks(tmp_path):
    data = bytes(range(256)) * 1000
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert manifest.sha256_file(path, chunk=1000) == hashlib.sha256(data).hexdigest()


def test_describe_inputs_gives_relative_paths_sizes_and_digests(tmp_path):
    (tmp_path / "sub").mkdir()
    for name, content in (("b.txt", b"bb"), ("sub/a.txt", b"a")):
        (tmp_path / name).write_bytes(content)
    rows = manifest.describe_inputs([tmp_path / "sub/a.txt", tmp_path / "b.txt"], root=tmp_path)
    assert [(r["path"], r["size"]) for r in rows] == [("b.txt", 2), ("sub/a.txt", 1)]
    assert rows[1]["sha256"] == hashlib.sha256(b"a").hexdigest()


def test_build_manifest_records_versions_and_run_details():
    out = manifest.build_manifest(
        command="nsdval run",
        parameters={"jobs": 2},
        inputs=[],
        timings={"total_seconds": 1.0},
        created="now",
    )
    assert out["packages"]["numpy"] and out["packages"]["papermill"]
    assert out["command"] == "nsdval run" and out["parameters"] == {"jobs": 2}
    assert out["python"].count(".") == 2


def test_describe_inputs_in_size_mtime_mode_reads_no_content(tmp_path, monkeypatch):
    (tmp_path / "a.bin").write_bytes(b"abc")
    monkeypatch.setattr(manifest, "sha256_file", lambda *a, **k: pytest.fail("hashed"))
    rows = manifest.describe_inputs([tmp_path / "a.bin"], root=tmp_path, hash_mode="size-mtime")
    mtime = (tmp_path / "a.bin").stat().st_mtime_ns
    assert rows == [{"path": "a.bin", "size": 3, "hash": "size-mtime", "mtime_ns": mtime}]


def test_describe_inputs_refuses_an_unknown_hash_mode(tmp_path):
    with pytest.raises(
        ParameterError, match="parameter 'hash': expected one of read, sha256, size"
    ):
        manifest.describe_inputs([], root=tmp_path, hash_mode="md5")


def test_check_inputs_names_missing_and_altered_files(tmp_path):
    for name in ("same", "grown", "edited", "gone", "touched"):
        (tmp_path / name).write_bytes(b"data")
    paths = sorted(tmp_path.iterdir())
    records = manifest.describe_inputs(paths, root=tmp_path, workers=2)
    records[-1] = manifest.describe_inputs(paths[-1:], root=tmp_path, hash_mode="size-mtime")[0]
    assert manifest.check_inputs(records, root=tmp_path) == []
    (tmp_path / "grown").write_bytes(b"data+")
    (tmp_path / "edited").write_bytes(b"DATA")
    (tmp_path / "gone").unlink()
    os.utime(tmp_path / "touched", ns=(1, 1))
    found = manifest.check_inputs(records, root=tmp_path)
    assert [(p["path"], p["problem"], p["detail"]) for p in found] == [
        ("edited", "altered", "sha256 differs from the record"),
        ("gone", "missing", f"no file at {tmp_path / 'gone'}"),
        ("grown", "altered", "size 5 bytes, recorded 4"),
        ("touched", "altered", "modification time differs from the record"),
    ]


def test_git_state_outside_a_checkout_is_none(tmp_path):
    assert manifest.git_state(tmp_path) == (None, None)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_state_of_a_checkout_gives_commit_and_dirtiness(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "__init__.py").write_text("x = 1\n")
    git("add", "__init__.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    commit, dirty = manifest.git_state(tmp_path)
    assert len(commit) == 40 and dirty is False
    (tmp_path / "__init__.py").write_text("x = 2\n")
    assert manifest.git_state(tmp_path) == (commit, True)
    (tmp_path / "untracked").mkdir()
    assert manifest.git_state(tmp_path / "untracked") == (None, None)


def test_build_manifest_records_the_git_state():
    out = manifest.build_manifest(command="", parameters={}, inputs=[], timings={}, created="")
    assert {"git_commit", "git_dirty"} <= set(out)


def test_describe_inputs_reuses_digests_of_unchanged_files(tmp_path):
    path = tmp_path / "betas_session01.hdf5"
    path.write_bytes(b"x" * 100)
    first = manifest.describe_inputs([path], root=tmp_path, hash_mode="sha256")
    fake = [{**first[0], "sha256": "f" * 64}]  # proves the digest is reused, not recomputed
    reused = manifest.describe_inputs([path], root=tmp_path, hash_mode="sha256", previous=fake)
    assert reused[0]["sha256"] == "f" * 64
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    again = manifest.describe_inputs([path], root=tmp_path, hash_mode="sha256", previous=fake)
    assert again[0]["sha256"] == first[0]["sha256"]


def test_read_mode_never_hashes_a_betas_file_whole(tmp_path, monkeypatch):
    betas, design = tmp_path / "betas_session01.hdf5", tmp_path / "nsd_expdesign.mat"
    betas.write_bytes(bytes(range(256)) * 1024)  # 256 KB: larger than the header read
    design.write_bytes(b"design")
    limits = []
    real = manifest.sha256_file
    monkeypatch.setattr(
        manifest,
        "sha256_file",
        lambda p, **k: limits.append((p.name, k.get("limit"))) or real(p, **k),
    )
    rows = {r["path"]: r for r in manifest.describe_inputs([betas, design], root=tmp_path)}
    assert ("betas_session01.hdf5", manifest.HEADER_BYTES) in limits
    assert ("betas_session01.hdf5", None) not in limits
    assert (
        rows["betas_session01.hdf5"]["head_sha256"]
        == hashlib.sha256(betas.read_bytes()[: manifest.HEADER_BYTES]).hexdigest()
    )
    assert "sha256" not in rows["betas_session01.hdf5"]
    assert rows["nsd_expdesign.mat"]["sha256"] == hashlib.sha256(b"design").hexdigest()


def test_read_mode_takes_the_extraction_digest_while_the_file_is_unchanged(tmp_path):
    betas = tmp_path / "betas_session01.hdf5"
    betas.write_bytes(b"x" * 100)
    stat = betas.stat()
    reads = {str(betas.resolve()): {"sha256": "c" * 64, "size": 100, "mtime_ns": stat.st_mtime_ns}}
    row = manifest.describe_inputs([betas], root=tmp_path, reads=reads)[0]
    assert row["read_sha256"] == "c" * 64 and "head_sha256" not in row
    os.utime(betas, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    row = manifest.describe_inputs([betas], root=tmp_path, reads=reads)[0]
    assert "read_sha256" not in row and row["head_sha256"]


def test_sha256_mode_reports_progress_up_to_the_total(tmp_path):
    paths = [tmp_path / f"f{i}" for i in range(3)]
    for i, path in enumerate(paths):
        path.write_bytes(b"z" * (1000 * (i + 1)))
    seen = []
    manifest.describe_inputs(paths, root=tmp_path, hash_mode="sha256", on_progress=seen.append)
    assert seen[-1] == {"hashed_bytes": 6000, "total_bytes": 6000, "n_files": 3}
    assert [s["hashed_bytes"] for s in seen] == sorted(s["hashed_bytes"] for s in seen)


def test_read_mode_never_hashes_surface_betas_whole_but_hashes_their_ncsnr(tmp_path):
    betas, ncsnr = tmp_path / "lh.betas_session01.mgh", tmp_path / "lh.ncsnr.mgh"
    betas.write_bytes(b"b" * 200_000)
    ncsnr.write_bytes(b"n" * 1000)
    rows = {r["path"]: r for r in manifest.describe_inputs([betas, ncsnr], root=tmp_path)}
    assert "sha256" not in rows["lh.betas_session01.mgh"]
    assert (
        rows["lh.betas_session01.mgh"]["head_sha256"]
        == hashlib.sha256(b"b" * manifest.HEADER_BYTES).hexdigest()
    )
    assert rows["lh.ncsnr.mgh"]["sha256"] == hashlib.sha256(b"n" * 1000).hexdigest()
