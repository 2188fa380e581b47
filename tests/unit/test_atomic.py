import os

import pytest

from nsdval import atomic


def test_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "index.html"
    path.write_text("old")
    atomic.write_text(path, "new ✓")
    assert path.read_text(encoding="utf-8") == "new ✓"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic.write_json(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "results.json"
    atomic.write_json(path, {"ok": True})
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        atomic.write_json(path, {"bad": object()})
    assert path.read_text() == '{\n  "ok": true\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_writing_streams_and_a_failure_keeps_the_previous_file(tmp_path):
    path = tmp_path / "big.tar.gz"
    with atomic.writing(path) as handle:
        for _ in range(3):
            handle.write(b"x" * 1000)
    assert path.stat().st_size == 3000
    with pytest.raises(RuntimeError, match="half way"), atomic.writing(path) as handle:
        handle.write(b"partial")
        raise RuntimeError("half way")
    assert path.stat().st_size == 3000
    assert [p.name for p in tmp_path.iterdir()] == ["big.tar.gz"]


def test_staged_files_replace_their_paths_together(tmp_path):
    paths = [tmp_path / "a.nc", tmp_path / "score.json"]
    paths[1].write_text("old")
    with atomic.staging(paths) as temps:
        temps[0].write_bytes(b"nc")
        assert paths[1].read_text() == "old" and not paths[0].exists()
        atomic.write_json(temps[1], {"new": 1})
    assert paths[0].read_bytes() == b"nc" and '"new": 1' in paths[1].read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nc", "score.json"]


def test_a_failed_staging_replaces_nothing(tmp_path):
    paths = [tmp_path / "a.nc", tmp_path / "score.json"]
    paths[1].write_text("old")
    with pytest.raises(RuntimeError), atomic.staging(paths) as temps:
        temps[0].write_bytes(b"nc")
        raise RuntimeError("scoring failed")
    with pytest.raises(FileNotFoundError, match="not written"), atomic.staging(paths) as temps:
        temps[0].write_bytes(b"nc")
    assert [p.name for p in tmp_path.iterdir()] == ["score.json"]
    assert paths[1].read_text() == "old"
