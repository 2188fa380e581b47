"""Exporting a Brain-Score benchmark run as the files nsdval's benchmark section reads.

Inside the Brain-Score environment, :func:`export_benchmark` scores a model on an
``Allen2022_fmri[_4subj|_surface|_surface_4subj].REGION-ridge`` benchmark and on the
matching ``-rdm`` benchmark with Brain-Score itself and writes, under ``OUT/REGION/``, what
``nsdval run`` compares its replicas with (see ``--benchmark-dir``):

- ``activations_train.nc`` and ``activations_test.nc``: the model features the ridge
  benchmark regressed, (presentation, neuroid), the MultiIndex levels flattened to plain
  coordinates (``stimulus_id`` among them);
- ``score.json``: the ridge benchmark, the model, the final score, the mean raw score, the
  overall ceiling and each subject's raw, ceiling and score;
- ``score_rdm.json``: the ``-rdm`` benchmark (Brain-Score's ``RSABenchmark``: RDMs,
  Spearman, the RSA ceiling), the model, its score, raw, ceiling, leave-one-out lower bound
  and each subject's raw.

The ``-rdm`` benchmark shows the model every train and test image once: the images of the
two activation files together, so no third file is needed. Its model is the same, so the
features it saw are those of the files; :func:`export_benchmark` checks that it saw no other
image and reports how far its features were from the files' (zero for a deterministic model).

The benchmarks and the model are identifiers, resolved with ``brainscore_vision``'s
``load_benchmark`` and ``load_model`` (which may download data and weights and, unless
``BS_INSTALL_DEPENDENCIES=no``, pip-install plugin requirements), or objects already built.
Everything is scored before anything is written; the files are then written to temporary
names and renamed into place together (:func:`nsdval.atomic.staging`).
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from nsdval import atomic
from nsdval.analysis import peer
from nsdval.errors import InputError, OutputError, ParameterError

RIDGE_FILES = ("activations_train.nc", "activations_test.nc", "score.json")
RDM_FILE = "score_rdm.json"
FILES = (*RIDGE_FILES, RDM_FILE)
ACTIVATION_TOLERANCE = 1e-5
"""Largest relative difference between the ``-rdm`` benchmark's features and the files'
that is taken for rounding (batched inference); above it the CLI warns."""

_IDENTIFIER = re.compile(r"^(?P<family>[^.]+)\.(?P<region>[^.]+)-(?P<metric>ridge|rdm)$")


def benchmark_pair(identifier):
    """The ridge and ``-rdm`` benchmark identifiers of one family and region.

    Parameters
    ----------
    identifier : str
        Either of them, e.g. ``Allen2022_fmri.V4-ridge`` or ``Allen2022_fmri_4subj.IT-rdm``.

    Returns
    -------
    ridge, rdm : str

    Examples
    --------
    >>> benchmark_pair("Allen2022_fmri_surface.V4-rdm")
    ('Allen2022_fmri_surface.V4-ridge', 'Allen2022_fmri_surface.V4-rdm')
    """
    match = _IDENTIFIER.match(str(identifier))
    if match is None:
        raise ParameterError(
            "benchmark", f"expected FAMILY.REGION-ridge or -rdm, got {identifier!r}"
        )
    stem = f"{match['family']}.{match['region']}"
    return f"{stem}-ridge", f"{stem}-rdm"


def _load(kind, identifier, hint=""):
    """``brainscore_vision.load_benchmark`` / ``load_model``; an unknown name is a usage error."""
    peer.require_brainscore()
    import brainscore_vision

    loader = {"benchmark": brainscore_vision.load_benchmark, "model": brainscore_vision.load_model}
    try:
        return loader[kind](identifier)
    except AssertionError as exc:
        if "No registrations found" not in str(exc):
            raise
        raise ParameterError(kind, f"Brain-Score has no {kind} {identifier!r}{hint}") from None


def _identifier(thing, default):
    if isinstance(thing, str):
        return thing
    value = getattr(thing, "identifier", None)
    return value if isinstance(value, str) else default


def _dim_coords(array, dim):
    """Plain coordinate arrays along ``dim``: MultiIndex levels, then the other coordinates."""
    out = {}
    index = array.indexes.get(dim)
    if isinstance(index, pd.MultiIndex):
        for name in index.names:
            out[name] = np.asarray(index.get_level_values(name))
    for name, coord in array.coords.items():
        if name != dim and name not in out and coord.dims == (dim,):
            out[name] = np.asarray(coord.values)
    return {name: _storable(values) for name, values in out.items()}


def _storable(values):
    """Numbers stay; anything else (paths, mixed objects) becomes text."""
    if values.dtype.kind in "biuf":
        return values
    return values.astype(str)


def plain_activations(assembly, *, name):
    """Brain-Score activations as a plain (presentation, neuroid) DataArray for netCDF.

    Parameters
    ----------
    assembly : NeuroidAssembly
        Model activations with presentation and neuroid dims (a time bin of size one is
        squeezed) and a ``stimulus_id`` coordinate.
    name : str
        Name of the stored DataArray.

    Returns
    -------
    xarray.DataArray
    """
    if "time_bin" in assembly.dims and assembly.sizes["time_bin"] == 1:
        assembly = assembly.squeeze("time_bin", drop=True)
    if set(assembly.dims) != {"presentation", "neuroid"}:
        raise InputError(name, f"activations dims are {tuple(assembly.dims)}")
    assembly = assembly.transpose("presentation", "neuroid")
    coords = {
        coord: (dim, values)
        for dim in ("presentation", "neuroid")
        for coord, values in _dim_coords(assembly, dim).items()
    }
    if "stimulus_id" not in coords:
        raise InputError(name, "activations lack a stimulus_id coordinate")
    return xr.DataArray(
        np.asarray(assembly.values), dims=("presentation", "neuroid"), coords=coords, name=name
    )


def _write_netcdf(array, path):
    """Write through a temporary file in the same folder, then rename."""
    with atomic.staging([path]) as (tmp,):
        array.to_netcdf(tmp, engine="h5netcdf")


def _target_dir(out_dir, region, overwrite):
    """``out_dir/REGION``, checked before scoring; created only when the files are written."""
    folder = Path(out_dir) / str(region)
    existing_parent = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing_parent.is_dir():
        raise OutputError(existing_parent, "is not a folder")
    existing = [name for name in FILES if (folder / name).exists()]
    if existing and not overwrite:
        raise OutputError(folder / existing[0], "exists (pass overwrite=True / --overwrite)")
    return folder


class _Recording:
    """A model that keeps what ``look_at`` returned; everything else is the model's."""

    def __init__(self, model):
        self._model = model
        self.recorded = []

    def look_at(self, stimuli, *args, **kwargs):
        activations = self._model.look_at(stimuli, *args, **kwargs)
        self.recorded.append(activations)
        return activations

    def __getattr__(self, name):
        return getattr(self._model, name)


def _benchmarks(benchmark, rdm):
    """(ridge benchmark, rdm benchmark or None), loading identifiers with Brain-Score."""
    named = benchmark if isinstance(benchmark, str) else _identifier(benchmark, "")
    if isinstance(benchmark, str) and benchmark.endswith("-rdm"):
        if rdm is False:
            raise ParameterError("benchmark", f"{benchmark} is an -rdm benchmark; rdm is off")
        benchmark = benchmark_pair(benchmark)[0]
    ridge = _load("benchmark", benchmark) if isinstance(benchmark, str) else benchmark
    if rdm is False:
        return ridge, None
    if rdm is True:
        rdm = benchmark_pair(_identifier(ridge, named))[1]
    if isinstance(rdm, str):
        rdm = _load("benchmark", rdm, hint=" (pass --no-rdm / rdm=False to skip it)")
    return ridge, rdm


def _score_ridge(bench, candidate):
    with contextlib.redirect_stdout(io.StringIO()):  # TrainTestNeuralBenchmark prints scores
        score = bench(candidate)
    recorded = [getattr(bench, f"{split}_activations", None) for split in ("train", "test")]
    if any(a is None for a in recorded):
        raise ParameterError("benchmark", "keeps no train/test activations after scoring")
    return score, recorded


def _score_rdm(bench, candidate):
    """Score the ``-rdm`` benchmark; its record and the features it saw."""
    recording = _Recording(candidate)
    with contextlib.redirect_stdout(io.StringIO()):
        score = bench(recording)
    if not recording.recorded:
        raise ParameterError(
            "benchmark", f"{_identifier(bench, 'the -rdm benchmark')} saw no images"
        )
    record = peer.rsa_score_record(score, peer.rsa_subjects(bench))
    return record, plain_activations(recording.recorded[-1], name="rdm activations")


def activation_difference(seen, files, *, benchmark=""):
    """Largest |difference| between the ``-rdm`` benchmark's features and the files', relative.

    Parameters
    ----------
    seen : xarray.DataArray
        (presentation, neuroid) features the ``-rdm`` benchmark scored, plain coordinates.
    files : sequence of xarray.DataArray
        The activations written (train, test).
    benchmark : str
        Named in the error.

    Returns
    -------
    float
        max |seen - files| / max |files| over the images ``seen`` holds, rows matched by
        ``stimulus_id``; ``inf`` when the numbers of features differ.

    Raises
    ------
    ParameterError
        If ``seen`` holds an image neither file has: the files could not reproduce the score.
    """
    values = np.concatenate([np.asarray(a.values, dtype=np.float64) for a in files])
    index = pd.Index(
        np.concatenate([np.asarray(a["stimulus_id"].values).astype(str) for a in files])
    )
    rows = index.get_indexer(np.asarray(seen["stimulus_id"].values).astype(str))
    if np.any(rows < 0):
        missing = np.asarray(seen["stimulus_id"].values)[rows < 0][0]
        raise ParameterError(
            "benchmark", f"{benchmark} scored image {missing}, in no activations file"
        )
    if seen.shape[1] != values.shape[1]:
        return float("inf")
    expected = values[rows]
    scale = np.max(np.abs(expected)) if expected.size else 0.0
    gap = np.max(np.abs(np.asarray(seen.values, dtype=np.float64) - expected), initial=0.0)
    return float(gap / scale) if scale > 0 else float(gap)


def export_benchmark(*, benchmark, model, out_dir, overwrite=False, rdm=True):
    """Score ``model`` on a ridge benchmark and its ``-rdm`` twin; write activations and scores.

    Parameters
    ----------
    benchmark : str or Brain-Score benchmark
        The ridge benchmark, e.g. ``"Allen2022_fmri.V4-ridge"`` or a
        ``TrainTestNeuralBenchmark`` object; an ``-rdm`` identifier names its ridge twin.
    model : str or Brain-Score model
        A registered model identifier (e.g. ``"alexnet"``) or a ``BrainModel``.
    out_dir : str or Path
        Files go to ``out_dir/REGION/``, the layout of ``nsdval run --benchmark-dir``.
    overwrite : bool
        Replace files already there.
    rdm : bool, str or Brain-Score benchmark
        ``True``: also score the ``-rdm`` benchmark of the ridge benchmark's family and
        region and write ``score_rdm.json``; ``False``: do not (with ``overwrite``, a
        ``score_rdm.json`` already there is removed: it would not describe the new
        activations); an identifier or an ``RSABenchmark`` object: that one.

    Returns
    -------
    dict
        ``folder`` (Path), ``files`` (list of Path), ``score`` (score.json's content),
        ``score_rdm`` (score_rdm.json's, or None) and ``rdm_activation_difference`` (see
        :func:`activation_difference`, or None).
    """
    ridge, rsa = _benchmarks(benchmark, rdm)
    candidate = _load("model", model) if isinstance(model, str) else model
    region = getattr(ridge, "region", None)
    if region is None:
        raise ParameterError("benchmark", f"{_identifier(benchmark, 'benchmark')} has no region")
    if rsa is not None and getattr(rsa, "region", region) != region:
        raise ParameterError("benchmark", f"the -rdm benchmark's region is not {region}")
    folder = _target_dir(out_dir, region, overwrite)
    model_name = _identifier(model, type(candidate).__name__)
    score, recorded = _score_ridge(ridge, candidate)
    record = {
        "benchmark": _identifier(ridge, _identifier(benchmark, "")),
        "model": model_name,
        **peer.score_record(score, peer.benchmark_subjects(ridge)),
    }
    arrays = [plain_activations(a, name="activations") for a in recorded]
    records, difference = [record], None
    if rsa is not None:
        numbers, seen = _score_rdm(rsa, candidate)
        rsa_name = _identifier(rsa, "")
        records.append({"benchmark": rsa_name, "model": model_name, **numbers})
        difference = activation_difference(seen, arrays, benchmark=rsa_name)
    paths = [folder / name for name in FILES[: 2 + len(records)]]
    _write_all(paths, arrays, records)
    if rsa is None:
        (folder / RDM_FILE).unlink(missing_ok=True)  # only reached with overwrite
    return {
        "folder": folder,
        "files": paths,
        "score": record,
        "score_rdm": records[1] if rsa is not None else None,
        "rdm_activation_difference": difference,
    }


def _write_all(paths, arrays, records):
    """Activations and score records to temporary names, then renamed into place together."""
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    with atomic.staging(paths) as temps:
        for array, tmp in zip(arrays, temps[: len(arrays)], strict=True):
            array.to_netcdf(tmp, engine="h5netcdf")
        for payload, tmp in zip(records, temps[len(arrays) :], strict=True):
            atomic.write_json(tmp, payload)
