"""The ``full`` preset: one subject at subj01's real size, streamed to disk session by session.

A timing dataset for nsdval's readers and ridge, not a validation tree. It holds the NSD
files at their real size and storage (int16 betas of shape (750, 83, 104, 81) per session,
chunked (750, 1, 1, 1) and uncompressed as NSD ships them; the ROI volumes with subj01's
region sizes; an ``nsd_expdesign.mat`` covering the sessions) and the V4 activations of the
real feature shape (412 x 64 896 train, 103 x 64 896 test, float32). It has no assemblies,
split CSV, score or ncsnr volume, so ``nsdval run`` refuses it as it refuses any tree
without assemblies.

A subject's betas never sit in memory at once: each session is generated one Z plane at a
time, for the brain voxels of that plane, and written into the HDF5 dataset as a slab of
whole chunks. Every chunk is written, zeros outside the brain included, so a session file
has the real size (about 1 GB) and a full read touches every chunk, as on the real data.
The values follow the model of :mod:`nsdval.synth.betas`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import h5py
import numpy as np

from nsdval.synth import packager
from nsdval.synth.betas import NOISE_PSC, PSC_SCALE, region_labels
from nsdval.synth.design import make_design, write_expdesign
from nsdval.synth.presets import REGIONS
from nsdval.synth.signal import make_image_space, model_features, voxel_snr, voxel_tuning
from nsdval.synth.volumes import sized_anatomy, write_rois

SUBJECT = "subj01"
ACTIVATIONS_REGION = "V4"
SPLIT_SEED = 42
N_SILENCED = 3


@dataclass(frozen=True)
class VoxelModel:
    """Parameters of the brain voxels shared by every session, in ``flatnonzero`` order.

    Parameters
    ----------
    brain : (Z, Y, X) bool array
        The brain mask; voxels outside it are 0 in every trial.
    snr, baseline : (n_brain,) float arrays
        Signal-to-noise ratio and baseline percent signal change of each voxel.
    tuning : (n_latent, n_brain) float array
        Unit-norm read-out of the image latents.
    """

    brain: np.ndarray
    snr: np.ndarray
    baseline: np.ndarray
    tuning: np.ndarray

    def plane_columns(self, z):
        """Brain-voxel indexes of Z plane ``z``, in ``flatnonzero`` order."""
        counts = self.brain.reshape(self.brain.shape[0], -1).sum(axis=1)
        start = int(counts[:z].sum())
        return np.arange(start, start + int(counts[z]))


def voxel_model(anatomy, n_latent, rng):
    """Draw every brain voxel's snr, baseline and tuning.

    Parameters
    ----------
    anatomy : Anatomy
        The subject's masks.
    n_latent : int
        Dimension of the latent image space.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    VoxelModel
    """
    labels = region_labels(anatomy, REGIONS)
    snr = voxel_snr(labels, rng)
    tuning = voxel_tuning(labels, n_latent, rng)
    baseline = rng.normal(1.0, 0.8, labels.size)
    return VoxelModel(brain=anatomy.brain, snr=snr, baseline=baseline, tuning=tuning)


def plane_values(model, columns, latents, session, rng):
    """Simulate one session's int16 betas of some brain voxels.

    Parameters
    ----------
    model : VoxelModel
        The voxels' parameters.
    columns : (n,) int array
        Brain-voxel indexes.
    latents : (n_trials, n_latent) float array
        Latent vector of the image shown on each trial of the session.
    session : dict
        The session's per-voxel ``offset`` and ``gain``, (n_brain,) arrays.
    rng : numpy.random.Generator
        Draws the trial noise.

    Returns
    -------
    (n_trials, n) int16 array
        ``round(300 * (baseline + offset + gain * 1.2 * (snr * response + noise)))``.
    """
    response = latents @ model.tuning[:, columns]
    noise = rng.standard_normal(response.shape, dtype=np.float32)
    signal = model.snr[columns] * response + noise
    psc = model.baseline[columns] + session["offset"][columns]
    psc = psc + session["gain"][columns] * NOISE_PSC * signal
    return np.round(psc * PSC_SCALE).astype(np.int16)


def write_session(path, brain, plane_source, trials):
    """Write one ``betas_sessionNN.hdf5`` plane by plane, every chunk included.

    Parameters
    ----------
    path : pathlib.Path
        Target file.
    brain : (Z, Y, X) bool array
        The brain mask.
    plane_source : callable
        ``plane_source(z)`` returns the (trials, n) int16 values of the brain voxels of
        plane ``z``, in ``flatnonzero`` order.
    trials : int
        Trials of the session.

    Notes
    -----
    The dataset is int16 ``(trials, Z, Y, X)``, chunked ``(trials, 1, 1, 1)``, unfiltered;
    each slab write covers whole chunks, so HDF5 writes them without reading back.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    plane = np.zeros((trials, 1, *brain.shape[1:]), dtype=np.int16)
    with h5py.File(path, "w") as handle:
        dset = handle.create_dataset(
            "betas",
            shape=(trials, *brain.shape),
            dtype=np.int16,
            chunks=(trials, 1, 1, 1),
            track_times=False,
        )
        for z in range(brain.shape[0]):
            plane[:] = 0
            plane[:, 0, brain[z]] = plane_source(z)
            dset[:, z : z + 1] = plane


def silenced_voxels(anatomy, sessions, rng):
    """Pick edge voxels (outside every region) that are 0 for one whole session each.

    Returns
    -------
    dict of int to (n,) int array
        Brain-voxel indexes silenced in each 1-based session.
    """
    brain = np.flatnonzero(anatomy.brain)
    edge = np.flatnonzero(anatomy.brain & (anatomy.prf <= 0) & (anatomy.streams <= 0))
    chosen = np.searchsorted(brain, rng.choice(edge, N_SILENCED, replace=False))
    when = rng.integers(1, sessions + 1, N_SILENCED)
    return {int(s): chosen[when == s] for s in np.unique(when)}


def write_subject_sessions(betas_dir, model, trial_latents, trials, silenced, seed):
    """Write every session of the subject; return the seconds each session took.

    Parameters
    ----------
    betas_dir : pathlib.Path
        The subject's ``betas`` folder.
    model : VoxelModel
        The voxels' parameters.
    trial_latents : (n_sessions * trials, n_latent) float array
        Latent vector of each trial's image.
    trials : int
        Trials per session.
    silenced : dict
        From :func:`silenced_voxels`.
    seed : numpy.random.SeedSequence
        Spawns one stream per session.
    """
    n_sessions = trial_latents.shape[0] // trials
    n_brain = model.snr.size
    seconds = []
    for index, session_seed in enumerate(seed.spawn(n_sessions)):
        started = time.perf_counter()
        rng = np.random.default_rng(session_seed)
        session = {
            "offset": rng.normal(0.0, 0.6, n_brain),
            "gain": rng.uniform(0.6, 1.4, n_brain),
        }
        latents = trial_latents[index * trials : (index + 1) * trials]
        zeroed = silenced.get(index + 1, np.empty(0, dtype=np.int64))

        def plane_source(z, latents=latents, session=session, rng=rng, zeroed=zeroed):
            columns = model.plane_columns(z)
            values = plane_values(model, columns, latents, session, rng)
            values[:, np.isin(columns, zeroed)] = 0
            return values

        path = betas_dir / f"betas_session{index + 1:02d}.hdf5"
        write_session(path, model.brain, plane_source, trials)
        seconds.append(round(time.perf_counter() - started, 2))
    return seconds


def write_activations(folder, features, nsd_ids):
    """Write ``activations_{train,test}.nc``, split as the assemblies are (RandomState(42)).

    Returns
    -------
    dict
        ``{"train": [n, n_features], "test": [n, n_features]}``.
    """
    shapes = {}
    rows_of_splits = packager.make_split(nsd_ids.size, SPLIT_SEED)
    for split, rows in zip(("train", "test"), rows_of_splits, strict=True):
        array = packager.activations(features[rows], nsd_ids[rows])
        packager.write_array(array, folder / f"activations_{split}.nc")
        shapes[split] = list(array.shape)
    return shapes


def design_sizes(preset, sessions):
    """The preset sizes the design is drawn for: at least ``preset.sessions[0]`` sessions.

    The design covers more sessions than are written when ``sessions`` is smaller, as the
    real ``masterordering`` covers 40 sessions for every subject; its assembly images all
    fit in three showings within the design's sessions.
    """
    return dataclasses.replace(preset, sessions=(max(int(sessions), preset.sessions[0]),))


def write_full(root, preset, sessions, seed):
    """Write the full-size benchmark tree under ``root``; return its summary.

    Parameters
    ----------
    root : pathlib.Path
        Empty target folder.
    preset : Preset
        A streamed preset with one subject and exact ``region_sizes``.
    sessions : int
        Sessions to write.
    seed : int
        Seed of all randomness.

    Returns
    -------
    dict
        Sizes, per-session write seconds and the files' shapes, for ``synth.json``.
    """
    design_seed, voxel_seed, session_seed, feature_seed = np.random.SeedSequence(seed).spawn(4)
    design_rng = np.random.default_rng(design_seed)
    design = make_design(design_sizes(preset, sessions), design_rng)
    write_expdesign(root / "metadata" / "nsd_expdesign.mat", design)
    space = make_image_space(design, preset.n_latent, design_rng)
    anatomy = sized_anatomy(preset.shapes[0], preset.region_sizes)
    write_rois(root / SUBJECT / "rois", anatomy)
    voxel_rng = np.random.default_rng(voxel_seed)
    model = voxel_model(anatomy, preset.n_latent, voxel_rng)
    silenced = silenced_voxels(anatomy, sessions, voxel_rng)
    trial_ids = design.trial_nsd_ids(0)[: sessions * preset.trials]
    seconds = write_subject_sessions(
        root / SUBJECT / "betas",
        model,
        space.lookup(trial_ids),
        preset.trials,
        silenced,
        session_seed,
    )
    ids = design.assembly_ids()
    features = model_features(
        space, ids, preset.n_features, preset.feature_noise, np.random.default_rng(feature_seed)
    )
    shapes = write_activations(root / "benchmark" / ACTIVATIONS_REGION, features, ids)
    return {
        "benchmark_dataset": True,
        "sessions": sessions,
        "trials_per_session": preset.trials,
        "betas_shape": [preset.trials, *anatomy.brain.shape],
        "volume_shape": list(preset.shapes[0]),
        "brain_voxels": int(anatomy.brain.sum()),
        "voxels": {r: int(anatomy.region_mask(r).sum()) for r in REGIONS},
        "zero_sessions": _zero_sessions(anatomy.brain, silenced),
        "n_images": int(ids.size),
        "activations": {ACTIVATIONS_REGION: shapes},
        "seconds_per_session": seconds,
    }


def _zero_sessions(brain, silenced):
    """The silenced voxels as ``{"voxel": [z, y, x] (HDF5 axes), "session": n}``."""
    flat = np.flatnonzero(brain)
    return [
        {"voxel": [int(i) for i in np.unravel_index(flat[column], brain.shape)], "session": s}
        for s, columns in sorted(silenced.items())
        for column in columns
    ]
