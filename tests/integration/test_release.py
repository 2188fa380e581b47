"""The release workflow through `main([...])`: run -> archive -> verify -> compare."""

import json
import re
import shutil
import tarfile

import pytest

from nsdval.cli import main
from nsdval.synth import synthesize

pytestmark = pytest.mark.slow

SMALL = ["--subjects", "1", "--regions", "V4", "--jobs", "2"]
# One of each kind of archived file (paths inside the archive's top folder).
KINDS = {
    "notebook": "subj01/V4/assembly_validation.ipynb",
    "html": "subj01/V4/assembly_validation.html",
    "sidecar": "structure/results.json",
    "results.json": "results.json",
    "manifest.json": "manifest.json",
    "index.html": "index.html",
    "SHA256SUMS": "SHA256SUMS",
}
CHECK_LINE = re.compile(r"^check (\S+) / (\S+?)(?: \[(.*)\])?: (\w+) -> (\w+)")


def run(tree, out):
    code = main(["run", "--nsd-root", str(tree), "--out", str(out), *SMALL])
    return code, json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def clean(tiny_tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "run"
    code, results = run(tiny_tree, out)
    assert code == 0, results["status"]
    return out


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    tree = synthesize(tmp_path_factory.mktemp("nsd") / "split", preset="tiny", fault="split-seed")
    out = tmp_path_factory.mktemp("faulty") / "run"
    code, _ = run(tree, out)
    assert code == 1
    return out


@pytest.fixture(scope="module")
def packed(clean, tmp_path_factory):
    folder = tmp_path_factory.mktemp("release")
    assert main(["archive", str(clean), "--release", "v1.2", "--out", str(folder)]) == 0
    return folder / "nsdval-v1.2.tar.gz"


def extract(archive, into):
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(into, filter="data")
    return into / "nsdval-v1.2"


def flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def status_map(results):
    return {
        (r["id"], c["section"], c["name"], c["subject"], c["region"]): c["status"]
        for r in results["reports"]
        for c in r["checks"]
    }


def test_archiving_twice_gives_identical_bytes(clean, packed, tmp_path, capsys):
    again = ["archive", str(clean), "--release", "v1.2", "--out", str(tmp_path), "--jobs", "1"]
    assert main(again) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path.resolve() / packed.name)
    assert (tmp_path / packed.name).read_bytes() == packed.read_bytes()


def test_the_archive_holds_the_run_and_verifies(clean, packed, tiny_tree, capsys):
    with tarfile.open(packed, "r:gz") as tar:
        names = {m.name.removeprefix("nsdval-v1.2/") for m in tar.getmembers() if m.isfile()}
    assert set(KINDS.values()) <= names
    manifest = json.loads(
        tarfile.open(packed, "r:gz").extractfile("nsdval-v1.2/manifest.json").read()
    )
    assert manifest["release"] == "v1.2" and manifest["command"].startswith("nsdval run")
    assert any(i["path"].endswith("betas_session01.hdf5") for i in manifest["inputs"])
    assert main(["verify", str(packed), "--nsd-root", str(tiny_tree)]) == 0
    assert "OK:" in capsys.readouterr().out


@pytest.mark.parametrize("kind", KINDS)
def test_one_flipped_byte_fails_verify_naming_the_file(packed, tmp_path, kind, capsys):
    folder = extract(packed, tmp_path)
    flip(folder / KINDS[kind])
    repacked = tmp_path / "tampered.tar.gz"
    with tarfile.open(repacked, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    for target in (folder, repacked):
        assert main(["verify", str(target)]) == 1
        out = capsys.readouterr().out
        assert re.search(rf"^altered +{re.escape(KINDS[kind])}:", out, re.M), out
        assert out.count("altered") == 1


def test_verify_names_an_altered_input_file(packed, tiny_tree, tmp_path, capsys):
    tree = shutil.copytree(tiny_tree, tmp_path / "tree")
    flip(tree / "subj01/betas/betas_session02.hdf5")
    assert main(["verify", str(packed), "--nsd-root", str(tree)]) == 1
    out = capsys.readouterr().out
    assert "altered  input subj01/betas/betas_session02.hdf5: sha256 differs" in out
    assert "FAILED: 1 problem(s)" in out


def test_compare_lists_exactly_the_checks_that_flipped(clean, faulty, tmp_path, capsys):
    before = status_map(json.loads((clean / "results.json").read_text()))
    after = status_map(json.loads((faulty / "results.json").read_text()))
    flipped = {
        (key[0], key[2], " · ".join(p for p in key[3:] if p), before[key], after[key])
        for key in before.keys() & after.keys()
        if before[key] != after[key]
    }
    assert flipped and any(name == "split-seed" for _, name, *_ in flipped)
    page = tmp_path / "compare.html"
    assert main(["compare", str(clean), str(faulty), "--html", str(page)]) == 1
    listed = set()
    for line in capsys.readouterr().out.splitlines():
        if match := CHECK_LINE.match(line):
            rid, name, scope, a, b = match.groups()
            listed.add((rid, name, scope or "", a, b))
    assert listed == flipped
    text = page.read_text()
    assert all(name in text for _, name, *_ in flipped) and "regression" in text


def test_compare_a_run_with_itself_and_with_its_archive(clean, packed, capsys):
    assert main(["compare", str(clean), str(clean), "--html", str(clean.parent / "c.html")]) == 0
    assert capsys.readouterr().out.splitlines()[-2] == "no regressions; no differences"
    assert main(["compare", str(packed), str(clean), "--html", str(clean.parent / "d.html")]) == 0
    out = capsys.readouterr().out
    assert "version release: 'v1.2' -> None" in out and "check " not in out


def test_run_compare_with_links_the_previous_release_from_the_index(packed, tmp_path, capsys):
    tree = synthesize(tmp_path / "tree", preset="tiny", fault="split-seed")
    out = tmp_path / "run"
    code = main(
        ["run", "--nsd-root", str(tree), "--out", str(out), *SMALL, "--compare-with", str(packed)]
    )
    results = json.loads((out / "results.json").read_text())
    assert code == 1
    assert results["comparison"]["against"] == str(packed)
    assert results["comparison"]["regressions"] >= 1
    page = (out / "index.html").read_text()
    assert 'href="compare.html"' in page and "regression" in page
    assert "split-seed" in (out / "compare.html").read_text()
