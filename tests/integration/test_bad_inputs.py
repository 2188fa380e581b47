"""The bad-input matrix: every unusable input stops `nsdval run` with exit 2, one stderr
line naming the file (or parameter) and the fault, no traceback, and nothing in OUT.

Each row copies the tiny synthetic tree, breaks one thing and runs ``main([...])``
in-process; the preflight stops the run before any notebook starts, so these are fast.
The last test (NaN values, a data fault the reports exist to find) runs notebooks.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import scipy.io
import xarray as xr

from nsdval.cli import main
from nsdval.errors import InputError

BETAS = "subj01/betas/betas_session{:02d}.hdf5"
PRF = "subj01/rois/prf-visualrois.nii.gz"
TRAIN = "brainscore/Allen2022_fmri_train_8subj.nc"
TEST = "brainscore/Allen2022_fmri_test_8subj.nc"
DESIGN = "metadata/nsd_expdesign.mat"


# --- breaking one file ------------------------------------------------------------------------
def read_betas(path):
    with h5py.File(path, "r") as f:
        return f["betas"][:]


def write_betas(path, values):
    path.unlink()
    with h5py.File(path, "w") as f:
        f.create_dataset("betas", data=values)


def rewrite_betas(rel, change):
    def breaker(tree):
        path = tree / rel
        write_betas(path, change(read_betas(path)))
        return path

    return breaker


def rename_dataset(rel):
    def breaker(tree):
        path = tree / rel
        with h5py.File(path, "a") as f:
            f.move("betas", "data")
        return path

    return breaker


def rewrite_nifti(rel, change):
    def breaker(tree):
        path = tree / rel
        image = nib.load(path)
        data = change(np.asarray(image.get_fdata()))
        nib.save(nib.Nifti1Image(data.astype(np.float32), image.affine), path)
        return path

    return breaker


def relabel(labels, *, to=0):
    """An ROI volume with ``labels`` replaced by ``to``."""
    return lambda data: np.where(np.isin(data, labels), to, data)


def rewrite_netcdf(rel, change):
    def breaker(tree):
        path = tree / rel
        with xr.open_dataarray(path) as opened:
            array = change(opened.load())
        # the encoding read back lists the old coordinates; an older xarray (the Brain-Score
        # environment's) writes that list as is and the dropped one turns the rest into data
        array.encoding = {}
        array.to_netcdf(path)
        return path

    return breaker


def drop_variable(name):
    def breaker(tree):
        path = tree / DESIGN
        mat = scipy.io.loadmat(path)
        kept = {k: v for k, v in mat.items() if not k.startswith("__") and k != name}
        scipy.io.savemat(path, kept)
        return path

    return breaker


def remove(rel):
    def breaker(tree):
        path = tree / rel
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        return path

    return breaker


def remove_sessions(rel_dir):
    def breaker(tree):
        for path in (tree / rel_dir).glob("betas_session*.hdf5"):
            path.unlink()
        return tree / rel_dir

    return breaker


def truncate(rel, fraction):
    def breaker(tree):
        path = tree / rel
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])
        return path

    return breaker


def overwrite(rel, content):
    def breaker(tree):
        path = tree / rel
        path.write_bytes(content)
        return path

    return breaker


def zero_block(rel, where, size):
    """Zero ``size`` bytes from the fraction ``where`` of the file: a plausible bad copy."""

    def breaker(tree):
        path = tree / rel
        data = bytearray(path.read_bytes())
        start = int(len(data) * where)
        data[start : start + size] = bytes(min(size, len(data) - start))
        path.write_bytes(bytes(data))
        return path

    return breaker


def break_chunk_index(rel):
    """Damage every node of the betas' chunk index (v1 B-tree, node type 1), header intact.

    The header-only pre-flight cannot see it; the extraction pass looks chunks up there.
    """

    def breaker(tree):
        path = tree / rel
        data = bytearray(path.read_bytes())
        found = [i for i in range(len(data) - 5) if data[i : i + 5] == b"TREE\x01"]
        assert found, "no chunk B-tree node found"
        for start in found:
            data[start : start + 4] = b"XXXX"
        path.write_bytes(bytes(data))
        return path

    return breaker


def shorten_design(tree):
    """A design whose masterordering covers fewer trials than the sessions hold."""
    path = tree / DESIGN
    mat = scipy.io.loadmat(path)
    mat = {k: v for k, v in mat.items() if not k.startswith("__")}
    mat["masterordering"] = mat["masterordering"][:, :100]
    scipy.io.savemat(path, mat)
    return path


# Row id -> (breaker returning the path the message must name, extra argv, fault words).
MATRIX = {
    "session-gap": (remove(BETAS.format(2)), [], "missing betas session 2 of subj01"),
    # subj02 has the fewest sessions: its last one holds third showings of assembly images
    "last-session-missing": (
        remove("subj02/betas/betas_session03.hdf5"),
        [],
        ("missing betas session 3 of subj02, which holds", "trials of the", "under validation"),
    ),
    "other-subject-last-session-missing": (
        remove("subj02/betas/betas_session03.hdf5"),
        ["--subjects", "1"],
        "missing betas session 3 of subj02, which holds",
    ),
    "chunk-index-damaged": (
        break_chunk_index(BETAS.format(2)),
        [],
        ("chunk of voxel (", ") unreadable"),
    ),
    "ncsnr-gzip-data-zeroed": (
        zero_block("subj01/betas/ncsnr.nii.gz", 0.5, 512),
        [],
        "not a readable NIfTI volume",
    ),
    "subject-folder-gone": (remove("subj02"), [], "missing betas folder of subj02"),
    "subject-without-sessions": (
        remove_sessions("subj02/betas"),
        [],
        "missing betas_sessionNN.hdf5 files",
    ),
    "hdf5-truncated": (
        truncate(BETAS.format(3), 0.6),
        [],
        ("not a readable HDF5 file", "truncated file"),
    ),
    "hdf5-corrupt": (
        overwrite(BETAS.format(1), b"\x89HDF garbage" * 100),
        [],
        "not a readable HDF5 file",
    ),
    "hdf5-empty": (overwrite(BETAS.format(4), b""), [], "not a readable HDF5 file"),
    "betas-not-4d": (
        rewrite_betas(BETAS.format(1), lambda v: v[..., 0]),
        [],
        "/betas should be int16 (trials, Z, Y, X)",
    ),
    "betas-dataset-renamed": (rename_dataset(BETAS.format(4)), [], "no /betas dataset"),
    "betas-float32": (
        rewrite_betas(BETAS.format(2), lambda v: v.astype(np.float32)),
        [],
        "/betas should be int16 (trials, Z, Y, X), found float32",
    ),
    "betas-spatial-shape-differs": (
        rewrite_betas(BETAS.format(3), lambda v: np.pad(v, ((0, 0), (0, 0), (0, 0), (0, 1)))),
        [],
        "differs from betas_session01.hdf5's",
    ),
    "betas-trials-differ": (
        rewrite_betas(BETAS.format(2), lambda v: v[:-1]),
        [],
        "differs from betas_session01.hdf5's",
    ),
    "roi-in-hdf5-order": (
        rewrite_nifti(PRF, lambda d: d.T),
        [],
        "ROI volume shape (12, 16, 14) (X, Y, Z) does not match the betas' spatial shape",
    ),
    "streams-cropped": (
        rewrite_nifti("subj01/rois/lh.streams.nii.gz", lambda d: d[:-1]),
        ["--regions", "IT"],
        "does not match the betas' spatial shape",
    ),
    "roi-unreadable": (overwrite(PRF, b"not a nifti"), [], "not a readable NIfTI volume"),
    "roi-without-V4": (rewrite_nifti(PRF, relabel([7])), [], "no voxel of region V4"),
    "roi-without-V1": (
        rewrite_nifti(PRF, relabel([1, 2])),
        ["--regions", "V1"],
        "no voxel of region V1",
    ),
    "ncsnr-wrong-shape": (
        rewrite_nifti("subj01/betas/ncsnr.nii.gz", lambda d: d[:, :-2]),
        [],
        "ncsnr volume shape",
    ),
    "design-without-masterordering": (
        drop_variable("masterordering"),
        [],
        "missing variable 'masterordering'",
    ),
    "design-without-subjectim": (drop_variable("subjectim"), [], "missing variable 'subjectim'"),
    "design-without-sharedix": (drop_variable("sharedix"), [], "missing variable 'sharedix'"),
    "design-unreadable": (overwrite(DESIGN, b"MATLAB? no"), [], "not a readable MATLAB file"),
    "design-too-short": (shorten_design, [], "masterordering has 100 trials"),
    "train-without-nsd_id": (
        rewrite_netcdf(TRAIN, lambda a: a.drop_vars("nsd_id")),
        [],
        "Brain-Score train assembly lacks coordinate 'nsd_id'",
    ),
    "train-without-stimulus_id": (
        rewrite_netcdf(TRAIN, lambda a: a.drop_vars("stimulus_id")),
        [],
        "lacks coordinate 'stimulus_id'",
    ),
    "train-without-neuroid_id": (
        rewrite_netcdf(TRAIN, lambda a: a.drop_vars("neuroid_id")),
        [],
        "lacks coordinate 'neuroid_id'",
    ),
    "train-without-voxel_y": (
        rewrite_netcdf(TRAIN, lambda a: a.drop_vars("voxel_y")),
        [],
        "lacks coordinate 'voxel_y'",
    ),
    "train-without-nc_testset": (
        rewrite_netcdf(TRAIN, lambda a: a.drop_vars("nc_testset")),
        [],
        "lacks coordinate 'nc_testset'",
    ),
    "test-without-repetition": (
        rewrite_netcdf(TEST, lambda a: a.drop_vars("repetition")),
        [],
        "Brain-Score test assembly lacks coordinate 'repetition'",
    ),
    "test-without-region": (
        rewrite_netcdf(TEST, lambda a: a.drop_vars("region")),
        [],
        "lacks coordinate 'region'",
    ),
    "test-without-time_bin": (
        rewrite_netcdf(TEST, lambda a: a.isel(time_bin=0)),
        [],
        "dims are ('presentation', 'neuroid'), expected",
    ),
    "region-assembly-without-subject": (
        rewrite_netcdf("assemblies/Allen2022.V4_8subj.nc", lambda a: a.drop_vars("subject")),
        [],
        "V4 region assembly lacks coordinate 'subject'",
    ),
    "assembly-truncated": (truncate(TEST, 0.5), [], "not a readable netCDF DataArray"),
    "activations-missing": (
        remove("benchmark/V2/activations_test.nc"),
        [],
        "missing V2 test activations",
    ),
    "score-missing-key": (
        overwrite("benchmark/IT/score.json", json.dumps({"score": 1}).encode()),
        [],
        "score JSON lacks key 'raw'",
    ),
    "split-csv-missing": (
        remove("assemblies/train_test_split_8subj.csv"),
        [],
        "missing split CSV",
    ),
}


@pytest.fixture
def tree(tiny_tree, tmp_path):
    """A private copy of the tiny tree, to break."""
    return Path(shutil.copytree(tiny_tree, tmp_path / "nsd"))


def run(root, out, *extra):
    return main(["run", "--nsd-root", str(root), "--out", str(out), *extra])


def snapshot(folder):
    """Every file under ``folder`` with its bytes and mtime, or None when it does not exist."""
    folder = Path(folder)
    if not folder.exists():
        return None
    if folder.is_file():
        return folder.read_bytes()
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def assert_refused(code, err, *, named, words):
    """Exit 2, one stderr line naming ``named`` and saying ``words`` (a str or a tuple)."""
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1, lines
    assert lines[0].startswith("nsdval: error: "), lines
    assert str(named) in lines[0], (named, lines[0])
    for word in (words,) if isinstance(words, str) else words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in err


@pytest.mark.parametrize("row", sorted(MATRIX))
def test_each_bad_input_stops_the_run_before_out_is_touched(row, tree, tmp_path, capsys):
    breaker, extra, words = MATRIX[row]
    broken = breaker(tree)
    out = tmp_path / "out"
    code = run(tree, out, *extra)
    assert_refused(code, capsys.readouterr().err, named=broken, words=words)
    assert not out.exists()


def test_the_clean_copy_passes_the_preflight(tree, tmp_path, monkeypatch):
    """Control for the matrix: the unbroken copy gets past every check to create OUT."""
    from nsdval.run import runner

    class ReachedOut(Exception):
        pass

    def stop(out):
        raise ReachedOut(out)

    monkeypatch.setattr(runner, "prepare_out", stop)
    with pytest.raises(ReachedOut):
        run(tree, tmp_path / "out")


@pytest.mark.parametrize(
    ("make", "words"),
    [(lambda root: None, "missing NSD root folder"), (Path.mkdir, "neither NSD layout")],
    ids=["missing", "empty"],
)
def test_an_unusable_root_is_named(make, words, tmp_path, capsys):
    root = tmp_path / "nowhere"
    make(root)
    code = run(root, tmp_path / "out")
    assert_refused(code, capsys.readouterr().err, named=root, words=words)
    assert not (tmp_path / "out").exists()


def test_a_requested_subject_without_folder_is_named(tree, tmp_path, capsys):
    code = run(tree, tmp_path / "out", "--subjects", "1,3")
    err = capsys.readouterr().err
    assert_refused(code, err, named=tree / "subj03", words="missing subject betas folder")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("option", "words"),
    [
        ("tolerence=1e-6", "parameter 'tolerence': unknown"),
        ("seed=x", "parameter 'seed': expected int, got str 'x'"),
        ("tolerance=true", "parameter 'tolerance': expected float, got bool True"),
        ("nsd_root=/elsewhere", "parameter 'nsd_root': is set by nsdval run itself"),
    ],
)
def test_bad_parameters_are_named(option, words, tree, tmp_path, capsys):
    code = run(tree, tmp_path / "out", "-p", option)
    assert_refused(code, capsys.readouterr().err, named="parameter", words=words)
    assert not (tmp_path / "out").exists()


def test_an_out_that_is_a_file_is_refused_and_kept(tree, tmp_path, capsys):
    out = tmp_path / "out.txt"
    out.write_text("not a folder")
    code = run(tree, out)
    err = capsys.readouterr().err
    assert_refused(code, err, named=out, words="output path exists and is not a folder")
    assert out.read_text() == "not a folder"


@pytest.mark.parametrize(
    "row", ["session-gap", "roi-without-V4", "train-without-nsd_id", "chunk-index-damaged"]
)
def test_an_existing_out_is_left_unchanged(row, tree, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "subj01" / "V4").mkdir(parents=True)
    (out / "results.json").write_text(json.dumps({"reports": []}))
    (out / "subj01" / "V4" / "assembly_validation.html").write_text("<p>earlier run</p>")
    before = snapshot(out)
    breaker, extra, words = MATRIX[row]
    broken = breaker(tree)
    code = run(tree, out, *extra)
    assert_refused(code, capsys.readouterr().err, named=broken, words=words)
    assert snapshot(out) == before


def test_debug_shows_the_exception(tree, tmp_path):
    MATRIX["roi-without-V4"][0](tree)
    with pytest.raises(InputError, match="no voxel of region V4"):
        main(["--debug", "run", "--nsd-root", str(tree), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_the_command_prints_one_line_and_no_traceback(tree, tmp_path):
    broken = MATRIX["hdf5-truncated"][0](tree)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, "-m", "nsdval", "run", "--nsd-root", str(tree), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert_refused(proc.returncode, proc.stderr, named=broken, words="not a readable HDF5 file")
    assert proc.stdout == ""
    assert not out.exists()


def fake_run(out, tree, *, subject=1, region="V4"):
    """A finished run's results.json by hand (no notebook runs) for `nsdval rerun`."""
    rel = f"subj{subject:02d}/{region}"
    (out / rel).mkdir(parents=True)
    (out / rel / "assembly_validation.html").write_text("<p>earlier</p>")
    record = {
        "id": f"subj{subject:02d}-{region}-assembly_validation",
        "template": "assembly_validation",
        "subject": f"subj{subject:02d}",
        "region": region,
        "status": "pass",
        "notebook": f"{rel}/assembly_validation.ipynb",
        "html": f"{rel}/assembly_validation.html",
        "parameters": {
            "nsd_root": str(tree),
            "variant": "_8subj",
            "subject": subject,
            "region": region,
        },
        "checks": [],
    }
    (out / "results.json").write_text(json.dumps({"status": "pass", "reports": [record]}))
    return out / rel


def test_rerun_checks_the_inputs_of_its_report(tree, tmp_path, capsys):
    out = tmp_path / "out"
    report = fake_run(out, tree)
    broken = MATRIX["roi-without-V4"][0](tree)
    before = snapshot(out)
    code = main(["rerun", str(report), "-p", "tolerance=1e-6"])
    assert_refused(code, capsys.readouterr().err, named=broken, words="no voxel of region V4")
    assert snapshot(out) == before


def nan_in_subj01_v4(tree):
    """NaN and Inf in the best subj01 V4 neuroid of every assembly that holds it."""
    train_path = tree / TRAIN
    with xr.open_dataarray(train_path) as opened:
        train = opened.load()
    block = (train["subject"].values == "subj01") & (train["region"].values == "V4")
    nc = np.where(block, train["nc_testset"].values, -np.inf)
    neuroid_id = str(train["neuroid_id"].values[int(np.argmax(nc))])
    for rel in (TRAIN, TEST, "assemblies/Allen2022.V4_8subj.nc"):

        def poison(array, neuroid_id=neuroid_id):
            values = array.values.copy()
            column = int(np.flatnonzero(array["neuroid_id"].values == neuroid_id)[0])
            values[0, column] = np.nan
            values[1, column] = np.inf
            return array.copy(data=values)

        rewrite_netcdf(rel, poison)(tree)


@pytest.mark.slow
def test_nan_and_inf_values_fail_checks_without_crashing_a_report(tree, tmp_path):
    nan_in_subj01_v4(tree)
    out = tmp_path / "out"
    code = run(tree, out, "--subjects", "1", "--regions", "V4")
    results = json.loads((out / "results.json").read_text())
    assert code == 1
    assert results["status"] == "fail"
    assert [r["status"] for r in results["reports"]] == ["fail", "fail", "fail"]
    failing = {c["name"] for r in results["reports"] for c in r["checks"] if c["status"] == "fail"}
    assert {"train-finite", "test-finite", "V4-finite", "train-values"} <= failing, failing
    # the rdm report scores the poisoned assemblies: its replica no longer matches the report
    rdm_failing = {c["name"] for c in results["reports"][2]["checks"] if c["status"] == "fail"}
    assert rdm_failing and rdm_failing <= {
        "rdm-raw",
        "rdm-ceiling",
        "rdm-lower-bound-loo",
        "rdm-score",
        "rdm-subject-raw",
    }, rdm_failing
    for record in results["reports"]:
        assert record["error"] is None
        assert (out / record["html"]).is_file()
