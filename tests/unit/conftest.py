"""Hand-built run folders for the archive, verify and compare tests: no notebook runs.

And synthetic trees for the whole session (never altered: copy what a test changes).
"""

import copy
import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest
import rdm_reference

from nsdval.analysis.record import ReportRecord, results_to_json

CREATED = "2026-11-24T08:25:44+00:00"


def check(name, status="pass", value=1e-7, section="1. Values", **extra):
    return {
        "section": section,
        "name": name,
        "status": status,
        "value": value,
        "threshold": 1e-5,
        "detail": f"{name} detail",
        "subject": extra.pop("subject", "subj01"),
        "region": extra.pop("region", "V4"),
        **extra,
    }


def record(rid, rel_dir, template, checks, status=None, subject="subj01", region="V4"):
    statuses = [c["status"] for c in checks]
    worst = next((s for s in ("error", "fail", "warn") if s in statuses), "pass")
    return ReportRecord(
        id=rid,
        template=template,
        subject=subject,
        region=region,
        status=status or worst,
        notebook=f"{rel_dir}/{template}.ipynb",
        html=f"{rel_dir}/{template}.html",
        seconds=1.0,
        parameters={"nsd_root": "/data/nsd", "subject": 1, "region": region},
        checks=checks,
    )


def default_results(nsd_root):
    layout = record(
        "assembly_structure",
        "structure",
        "assembly_structure",
        [check("split-seed", value=38, subject=None, region=None)],
        subject=None,
        region=None,
    )
    layout = replace(layout, parameters={"nsd_root": str(nsd_root), "regions": "V4"})
    v4 = record(
        "subj01-V4-assembly_validation",
        "subj01/V4",
        "assembly_validation",
        [check("train-values"), check("voxel-count", value=29)],
    )
    return {
        "schema_version": 1,
        "nsdval_version": "0.1.0",
        "created": CREATED,
        "nsd_root": str(nsd_root),
        "status": "pass",
        "reports": [layout, v4],
        "benchmark": {
            "V4": {
                "reported": {"score": 0.25, "raw": 0.35, "ceiling": 0.6},
                "replica": {"score": 0.25, "raw": 0.35, "ceiling": 0.6},
            }
        },
    }


def write_run(out, nsd_root, results=None):
    """Write a finished run by hand: reports, sidecars, index, results and manifest."""
    results = copy.deepcopy(results or default_results(nsd_root))
    out.mkdir(parents=True, exist_ok=True)
    for rec in results["reports"]:
        folder = out / rec.html.rpartition("/")[0]
        folder.mkdir(parents=True, exist_ok=True)
        (out / rec.notebook).write_text(json.dumps({"cells": [], "id": rec.id}))
        (out / rec.html).write_text(f"<p>{rec.id} ✓</p>", encoding="utf-8")
        (folder / "results.json").write_text(json.dumps({"schema_version": 1, **rec.to_dict()}))
    (out / "index.html").write_text("<html><body>index</body></html>")
    (out / "results.json").write_text(json.dumps(results_to_json(results), indent=2))
    inputs = []
    for path in sorted(p for p in nsd_root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        inputs.append(
            {
                "path": path.relative_to(nsd_root).as_posix(),
                "size": len(data),
                "hash": "sha256",
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    manifest = {
        "schema_version": 1,
        "created": results["created"],
        "nsdval_version": "0.1.0",
        "git_commit": None,
        "git_dirty": None,
        "python": "3.11.7",
        "platform": "Linux",
        "command": f"nsdval run --nsd-root {nsd_root} --out {out}",
        "parameters": {"regions": ["V4"], "variant": "_8subj", "overrides": {}, "jobs": 1},
        "packages": {"numpy": "2.0.0", "papermill": "2.7.0"},
        "inputs": inputs,
        "timings": {"total_seconds": 2.0},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out


@pytest.fixture
def nsd_root(tmp_path):
    root = tmp_path / "nsd"
    (root / "subj01" / "betas").mkdir(parents=True)
    (root / "subj01" / "betas" / "betas_session01.hdf5").write_bytes(bytes(range(256)) * 64)
    (root / "metadata").mkdir()
    (root / "metadata" / "nsd_expdesign.mat").write_bytes(b"design")
    return root


@pytest.fixture
def run_dir(tmp_path, nsd_root):
    return write_run(tmp_path / "run", nsd_root)


@pytest.fixture
def make_run(nsd_root):
    """``make_run(out, results=None)`` writes a finished run folder by hand."""
    return lambda out, results=None: write_run(out, nsd_root, results)


@pytest.fixture
def base_results(nsd_root):
    """The results.json content of the hand-built run (reports as records), to alter before
    ``make_run``."""
    return default_results(nsd_root)


@pytest.fixture(scope="session")
def tiny_surface_tree(tmp_path_factory):
    """The tiny synthetic tree of the surface family (packaging layout), read-only."""
    from nsdval.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("surface") / "tiny", preset="tiny", space="surface")


@pytest.fixture(scope="session")
def clean_all(tmp_path_factory):
    """The tiny tree, volume and surface, seed 0, read-only."""
    from nsdval.synth import synthesize

    return synthesize(tmp_path_factory.mktemp("rdm") / "clean", preset="tiny", space="all")


@pytest.fixture(scope="session")
def rdm_tree(tmp_path_factory):
    """A small tree of random Brain-Score assemblies and activations (tests/rdm_reference.py)."""
    root = tmp_path_factory.mktemp("rdm") / "nsd"
    return rdm_reference.write_tree(root, np.random.default_rng(5))
