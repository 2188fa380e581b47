"""Exporting a Brain-Score benchmark run as the files nsdval's benchmark section reads.

Inside the Brain-Score environment, :func:`export_benchmark` scores a model on an
``Allen2022_fmri.REGION-ridge`` benchmark with Brain-Score itself and writes, under
``OUT/REGION/``, what ``nsdval run`` compares its replica with (see ``--benchmark-dir``):

- ``activations_train.nc`` and ``activations_test.nc``: the model features the benchmark
  regressed, (presentation, neuroid), the MultiIndex levels flattened to plain coordinates
  (``stimulus_id`` among them);
- ``score.json``: the benchmark, the model, the final score, the mean raw score, the
  overall ceiling and each subject's raw, ceiling and score.

The benchmark and the model are identifiers, resolved with ``brainscore_vision``'s
``load_benchmark`` and ``load_model`` (which may download data and weights and, unless
``BS_INSTALL_DEPENDENCIES=no``, pip-install plugin requirements), or objects already built.
"""

from __future__ import annotations

import contextlib
import io
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from nsdval import atomic
from nsdval.analysis import peer
from nsdval.errors import InputError, OutputError, ParameterError

FILES = ("activations_train.nc", "activations_test.nc", "score.json")


def _load(kind, identifier):
    """``brainscore_vision.load_benchmark`` / ``load_model``; an unknown name is a usage error."""
    peer.require_brainscore()
    import brainscore_vision

    loader = {"benchmark": brainscore_vision.load_benchmark, "model": brainscore_vision.load_model}
    try:
        return loader[kind](identifier)
    except AssertionError as exc:
        if "No registrations found" not in str(exc):
            raise
        raise ParameterError(kind, f"Brain-Score has no {kind} {identifier!r}") from None


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
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        array.to_netcdf(tmp, engine="h5netcdf")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _target_dir(out_dir, region, overwrite):
    folder = Path(out_dir) / str(region)
    existing = [name for name in FILES if (folder / name).exists()]
    if existing and not overwrite:
        raise OutputError(folder / existing[0], "exists (pass overwrite=True / --overwrite)")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def export_benchmark(*, benchmark, model, out_dir, overwrite=False):
    """Score ``model`` on ``benchmark`` with Brain-Score; write activations and score.json.

    Parameters
    ----------
    benchmark : str or Brain-Score benchmark
        E.g. ``"Allen2022_fmri.V4-ridge"``, or a ``TrainTestNeuralBenchmark`` object.
    model : str or Brain-Score model
        A registered model identifier (e.g. ``"alexnet"``) or a ``BrainModel``.
    out_dir : str or Path
        Files go to ``out_dir/REGION/``, the layout of ``nsdval run --benchmark-dir``.
    overwrite : bool
        Replace files already there.

    Returns
    -------
    dict
        ``folder`` (Path), ``files`` (list of Path) and ``score`` (the score.json content).
    """
    bench = _load("benchmark", benchmark) if isinstance(benchmark, str) else benchmark
    candidate = _load("model", model) if isinstance(model, str) else model
    region = getattr(bench, "region", None)
    if region is None:
        raise ParameterError("benchmark", f"{_identifier(benchmark, 'benchmark')} has no region")
    folder = _target_dir(out_dir, region, overwrite)
    with contextlib.redirect_stdout(io.StringIO()):  # TrainTestNeuralBenchmark prints scores
        score = bench(candidate)
    recorded = [getattr(bench, f"{split}_activations", None) for split in ("train", "test")]
    if any(a is None for a in recorded):
        raise ParameterError("benchmark", "keeps no train/test activations after scoring")
    record = {
        "benchmark": _identifier(bench, _identifier(benchmark, "")),
        "model": _identifier(model, type(candidate).__name__),
        **peer.score_record(score, peer.benchmark_subjects(bench)),
    }
    paths = [folder / name for name in FILES]
    for activations, path in zip(recorded, paths[:2], strict=True):
        _write_netcdf(plain_activations(activations, name="activations"), path)
    atomic.write_json(paths[2], record)
    return {"folder": folder, "files": paths, "score": record}
