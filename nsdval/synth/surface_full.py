"""The ``full`` preset's surface family: subj01 on real fsaverage, streamed session by session.

A timing dataset for the surface readers, not a validation tree: the fsaverage label
files at their real size (163 842 vertices per hemisphere, NSD's V1, V2, V4 and IT vertex
counts) and one subject's ``{lh,rh}.betas_sessionNN.mgh`` files of shape
(163842, 1, 1, 750), float32 big-endian, about 491 MB each, with NaN vertices as in
:mod:`nsdval.synth.surface`. No ncsnr, assemblies, activations or score: the ncsnr needs
every session at once, and the volume's ``full`` tree already carries the V4 activations.

A file is written in blocks of trials (one trial's vertices are contiguous in an MGH
file), so no more than a block of a hemisphere sits in memory.
"""

from __future__ import annotations

import time

import numpy as np

from nsdval.synth import full
from nsdval.synth.betas import NOISE_PSC
from nsdval.synth.design import make_design, write_expdesign
from nsdval.synth.fsaverage import make_labels, region_vertices, stream_mgh, write_labels
from nsdval.synth.presets import HEMISPHERES, REGIONS
from nsdval.synth.signal import make_image_space, voxel_snr, voxel_tuning
from nsdval.synth.surface import vertex_regions

SUBJECT = "subj01"
BLOCK_TRIALS = 50
N_DEAD = 2  # vertices NaN in every trial, per hemisphere
N_SESSION_NAN = 3  # vertices NaN for one whole session, per hemisphere


def hemisphere_model(labels, n_latent, rng):
    """Draw every vertex's snr, baseline and tuning, and the vertices that hold NaN.

    Returns
    -------
    dict
        ``snr``, ``baseline`` (n_vertices,), ``tuning`` (n_latent, n_vertices), ``dead``
        (vertex indexes NaN everywhere: one V1 vertex and one outside every region) and
        ``session_nan`` (vertex indexes, one V1 and two V2, each NaN for one session).
    """
    regions = vertex_regions(labels)
    v1, v2 = region_vertices(labels, "V1"), region_vertices(labels, "V2")
    outside = np.flatnonzero(regions == None)  # noqa: E711 (element-wise)
    picked = rng.choice(v1, 2, replace=False)
    return {
        "snr": voxel_snr(regions, rng),
        "tuning": voxel_tuning(regions, n_latent, rng),
        "baseline": rng.normal(1.0, 0.8, regions.size),
        "dead": np.array([picked[0], rng.choice(outside)]),
        "session_nan": np.concatenate([picked[1:], rng.choice(v2, 2, replace=False)]),
    }


def session_blocks(model, latents, session_nan, rng):
    """Yield one session's betas of one hemisphere, BLOCK_TRIALS trials at a time.

    Parameters
    ----------
    model : dict
        From :func:`hemisphere_model`.
    latents : (trials, n_latent) float array
        Latent vector of each trial's image.
    session_nan : (n,) int array
        Vertices NaN in this session (besides the dead ones).
    rng : numpy.random.Generator
        Draws the session's offsets and gains and the trial noise.

    Yields
    ------
    (k, n_vertices) float32 array
    """
    n_vertices = model["snr"].size
    offset = rng.normal(0.0, 0.6, n_vertices)
    gain = rng.uniform(0.6, 1.4, n_vertices)
    level = model["baseline"] + offset
    scale = gain * NOISE_PSC
    for start in range(0, latents.shape[0], BLOCK_TRIALS):
        response = latents[start : start + BLOCK_TRIALS] @ model["tuning"]
        noise = rng.standard_normal(response.shape, dtype=np.float32)
        block = (level + scale * (model["snr"] * response + noise)).astype(np.float32)
        block[:, model["dead"]] = np.nan
        block[:, session_nan] = np.nan
        yield block


def write_full_surface(root, preset, sessions, seed, write_design):
    """Write the full-size surface timing files under ``root``; return their summary.

    Parameters
    ----------
    root : pathlib.Path
        Tree root.
    preset : Preset
        The streamed ``full`` preset (one subject, ``surface`` sizes).
    sessions : int
        Sessions to write.
    seed : int
        Seed of all randomness: the design is the volume ``full`` tree's for that seed.
    write_design : bool
        Write ``metadata/nsd_expdesign.mat`` (the volume writer does when it runs too).

    Returns
    -------
    dict
    """
    design_seed, *_, surface_seed = np.random.SeedSequence(seed).spawn(5)
    design_rng = np.random.default_rng(design_seed)
    design = make_design(full.design_sizes(preset, sessions), design_rng)
    if write_design:
        write_expdesign(root / "metadata" / "nsd_expdesign.mat", design)
    space = make_image_space(design, preset.n_latent, design_rng)
    label_seed, model_seed, session_seed = surface_seed.spawn(3)
    label_rng, model_rng = np.random.default_rng(label_seed), np.random.default_rng(model_seed)
    n_vertices = preset.surface.n_vertices
    labels = {h: make_labels(n_vertices, preset.surface.sizes[h], label_rng) for h in HEMISPHERES}
    write_labels(root / "fsaverage_labels", labels)
    models = {h: hemisphere_model(labels[h], preset.n_latent, model_rng) for h in HEMISPHERES}
    nan_session = {h: model_rng.integers(1, sessions + 1, N_SESSION_NAN) for h in HEMISPHERES}
    latents = space.lookup(design.trial_nsd_ids(0)[: sessions * preset.trials])
    seconds = []
    for index, rng_seed in enumerate(session_seed.spawn(sessions)):
        started = time.perf_counter()
        rng = np.random.default_rng(rng_seed)
        trials = latents[index * preset.trials : (index + 1) * preset.trials]
        for hemi in HEMISPHERES:
            nan_now = models[hemi]["session_nan"][nan_session[hemi] == index + 1]
            path = root / SUBJECT / "betas" / f"{hemi}.betas_session{index + 1:02d}.mgh"
            blocks = session_blocks(models[hemi], trials, nan_now, rng)
            stream_mgh(path, n_vertices, preset.trials, blocks)
        seconds.append(round(time.perf_counter() - started, 2))
    return _summary(preset, sessions, labels, models, nan_session, seconds)


def _summary(preset, sessions, labels, models, nan_session, seconds):
    """The full surface tree's ``synth.json`` part: sizes, NaN vertices, write times."""
    n_vertices = preset.surface.n_vertices
    return {
        "benchmark_dataset": True,
        "sessions": sessions,
        "trials_per_session": preset.trials,
        "n_vertices": n_vertices,
        "betas_shape": [n_vertices, 1, 1, preset.trials],
        "vertices": {
            r: {h: int(region_vertices(labels[h], r).size) for h in HEMISPHERES} for r in REGIONS
        },
        "nsdgeneral_vertices": {h: int(labels[h]["nsdgeneral"].sum()) for h in HEMISPHERES},
        "nan_vertices": {
            h: {
                "all": models[h]["dead"].tolist(),
                "session": [
                    {"vertex": int(v), "session": int(s)}
                    for v, s in zip(models[h]["session_nan"], nan_session[h], strict=True)
                ],
            }
            for h in HEMISPHERES
        },
        "seconds_per_session": seconds,
    }
