"""Verifying archives and extracted archive folders; loading runs back for compare."""

import copy
import hashlib
import io
import json
import shutil
import tarfile

import pytest

from nsdval.cli import main
from nsdval.errors import InputError, MissingInputError
from nsdval.release import archive, verify

KINDS = [
    "SHA256SUMS",
    "manifest.json",
    "results.json",
    "index.html",
    "structure/assembly_structure.ipynb",
    "subj01/V4/assembly_validation.html",
    "subj01/V4/results.json",
]


@pytest.fixture
def packed(run_dir, tmp_path):
    return archive.create_archive(run_dir, release="v1.2", out_dir=tmp_path / "rel")


@pytest.fixture
def extracted(packed, tmp_path):
    with tarfile.open(packed, "r:gz") as tar:
        tar.extractall(tmp_path / "x", filter="data")
    return tmp_path / "x" / "nsdval-v1.2"


def flip(path, position):
    data = bytearray(path.read_bytes())
    data[position % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


def repack(folder, target, extra=()):
    """A tar.gz of an extracted folder, plus ``extra`` (TarInfo, bytes) members."""
    with tarfile.open(target, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return target


def named(report):
    return [(p["path"], p["problem"]) for p in report["problems"]]


def test_an_intact_archive_and_folder_verify(packed, extracted, nsd_root):
    for target in (packed, extracted):
        report = verify.verify(target, nsd_root=nsd_root)
        assert report["problems"] == []
        assert (report["top"], report["files"], report["inputs"]) == ("nsdval-v1.2", 10, 2)
    assert verify.verify(packed)["inputs"] is None


@pytest.mark.parametrize("position", [0, 77, -2])
@pytest.mark.parametrize("name", KINDS)
def test_one_flipped_byte_names_exactly_that_file(extracted, tmp_path, name, position):
    flip(extracted / name, position)
    assert named(verify.verify(extracted)) == [(name, "altered")]
    assert named(verify.verify(repack(extracted, tmp_path / "re.tar.gz"))) == [(name, "altered")]


def test_missing_and_extra_files_are_named(extracted):
    (extracted / "index.html").unlink()
    (extracted / "notes.txt").write_text("added later")
    (extracted / "subj01" / "V4" / "extra.png").write_bytes(b"png")
    assert named(verify.verify(extracted)) == [
        ("index.html", "missing"),
        ("notes.txt", "extra"),
        ("subj01/V4/extra.png", "extra"),
    ]


def test_a_file_altered_with_its_sums_line_is_caught_by_the_manifest(extracted):
    (extracted / "index.html").write_text("forged")
    lines = (extracted / "SHA256SUMS").read_text().splitlines()
    forged = archive.format_sums({"index.html": "0" * 64})
    lines = [forged.strip() if line.endswith("  index.html") else line for line in lines]
    (extracted / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    assert named(verify.verify(extracted)) == [
        ("SHA256SUMS", "altered"),
        ("index.html", "altered"),
    ]


def test_members_outside_the_top_folder_or_not_regular_are_extra(extracted, tmp_path):
    outside = tarfile.TarInfo("elsewhere/evil.sh")
    outside.size = 4
    link = tarfile.TarInfo("nsdval-v1.2/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    target = repack(extracted, tmp_path / "re.tar.gz", [(outside, b"evil"), (link, None)])
    assert named(verify.verify(target)) == [
        ("elsewhere/evil.sh", "extra"),
        ("link", "extra"),
    ]


def test_a_duplicate_member_is_extra(extracted, tmp_path):
    info = tarfile.TarInfo("nsdval-v1.2/index.html")
    info.size = 6
    target = repack(extracted, tmp_path / "re.tar.gz", [(info, b"forged")])
    assert named(verify.verify(target)) == [("index.html", "extra")]


def test_a_damaged_gzip_trailer_is_corrupt(packed):
    flip(packed, -6)
    report = verify.verify(packed)
    assert named(report) == [("nsdval-v1.2.tar.gz", "corrupt")]
    assert "CRC" in report["problems"][0]["detail"] or "length" in report["problems"][0]["detail"]


def test_unusable_inputs_raise(tmp_path, run_dir):
    with pytest.raises(MissingInputError, match="nope.tar.gz: missing archive or run folder"):
        verify.verify(tmp_path / "nope.tar.gz")
    (tmp_path / "plain.txt").write_text("not an archive at all\n" * 100)
    with pytest.raises(InputError, match="plain.txt: not a readable tar archive"):
        verify.verify(tmp_path / "plain.txt")
    with pytest.raises(InputError, match="run: no SHA256SUMS"):
        verify.verify(run_dir)


def test_nsd_root_check_names_altered_and_missing_inputs(packed, nsd_root):
    (nsd_root / "metadata/nsd_expdesign.mat").unlink()
    flip(nsd_root / "subj01/betas/betas_session01.hdf5", 1000)
    report = verify.verify(packed, nsd_root=nsd_root, workers=2)
    assert [(p["where"], p["path"], p["problem"]) for p in report["problems"]] == [
        ("nsd-root", "metadata/nsd_expdesign.mat", "missing"),
        ("nsd-root", "subj01/betas/betas_session01.hdf5", "altered"),
    ]


def test_nsd_root_check_in_size_mtime_mode_uses_size_and_time(run_dir, nsd_root, tmp_path):
    packed = archive.create_archive(
        run_dir, release="v1", out_dir=tmp_path, hash_mode="size-mtime"
    )
    beta = nsd_root / "subj01/betas/betas_session01.hdf5"
    flip(beta, 10)  # same size, new mtime
    report = verify.verify(packed, nsd_root=nsd_root)
    assert report["problems"][0]["detail"] == "modification time differs from the record"


def test_load_run_reads_folders_and_archives(run_dir, packed, extracted):
    from_dir, from_tar = verify.load_run(run_dir), verify.load_run(packed)
    assert from_dir["results"] == from_tar["results"]
    assert from_tar["manifest"]["release"] == "v1.2"
    assert "release" not in from_dir["manifest"]
    assert verify.load_run(extracted)["manifest"]["release"] == "v1.2"


def test_load_run_names_what_is_wrong(tmp_path, run_dir):
    with pytest.raises(MissingInputError, match="results.json: missing run results.json"):
        verify.load_run(tmp_path)
    (run_dir / "results.json").write_text(json.dumps({"reports": "nope"}))
    with pytest.raises(InputError, match="results.json has no list of reports"):
        verify.load_run(run_dir)
    (run_dir / "manifest.json").unlink()
    (run_dir / "results.json").write_text(json.dumps({"reports": []}))
    assert verify.load_run(run_dir)["manifest"] == {}


def test_cli_verify_exit_codes_and_lines(packed, extracted, nsd_root, capsys):
    assert main(["verify", str(packed), "--nsd-root", str(nsd_root)]) == 0
    assert "OK: 10 files and 2 input files of nsdval-v1.2" in capsys.readouterr().out
    flip(extracted / "results.json", 5)
    shutil.rmtree(extracted / "structure")
    assert main(["verify", str(extracted), "--jobs", "1"]) == 1
    out = capsys.readouterr().out
    assert "altered  results.json: sha256" in out
    assert "missing  structure/assembly_structure.html" in out
    assert "FAILED: 4 problem(s)" in out
    assert main(["verify", str(extracted.parent)]) == 2
    assert "no SHA256SUMS" in capsys.readouterr().err


def test_every_single_byte_flip_names_exactly_its_file(extracted):
    """Any one flipped byte, in any file, SHA256SUMS and manifest.json included."""
    base = verify.scan(extracted)
    for name in KINDS:
        original = (extracted / name).read_bytes()
        step = 1 if name in ("SHA256SUMS", "manifest.json") else max(1, len(original) // 40)
        for position in range(0, len(original), step):
            data = bytearray(original)
            data[position] ^= 0x01
            found = copy.deepcopy(base)
            found.digests[name] = hashlib.sha256(data).hexdigest()
            if name in found.texts:
                found.texts[name] = bytes(data)
            problems = verify.archive_problems(found)
            assert [(p["path"], p["problem"]) for p in problems] == [(name, "altered")], position


def test_a_truncated_archive_is_corrupt_without_listing_unread_files(packed, capsys):
    data = packed.read_bytes()
    packed.write_bytes(data[: len(data) * 2 // 3])
    report = verify.verify(packed)
    assert named(report)[-1] == ("nsdval-v1.2.tar.gz", "corrupt")
    assert all(problem != "missing" for _, problem in named(report))
    assert main(["verify", str(packed)]) == 1
    assert "corrupt  nsdval-v1.2.tar.gz" in capsys.readouterr().out
