import hashlib

from nsdval import manifest


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
