"""Simulated single-trial betas and their HDF5 files.

A trial's value in percent signal change is ``baseline + session offset + session gain *
noise level * (snr * response + noise)``. The per-session offsets and gains differ per voxel,
so the within-session z-score matters; after it the gain cancels and the voxel's ncsnr is
close to its planted snr. Values are stored as int16 = round(PSC * 300).
"""

from __future__ import annotations

import h5py
import numpy as np

from nsdval.synth.signal import voxel_snr, voxel_tuning

NOISE_PSC = 1.2
PSC_SCALE = 300


def region_labels(anatomy, regions):
    """Return the region name of each brain voxel (``None`` outside the regions).

    Parameters
    ----------
    anatomy : Anatomy
        The subject's masks.
    regions : sequence of str
        Region names.

    Returns
    -------
    (n_brain,) object array
        In the order of ``np.flatnonzero(anatomy.brain)``.
    """
    labels = np.full(anatomy.brain.shape, None, dtype=object)
    for region in regions:
        labels[anatomy.region_mask(region)] = region
    return labels[anatomy.brain]


def simulate_psc(labels, trial_latents, sessions, trials, rng):
    """Simulate float64 percent-signal-change betas of one subject's units (voxels, vertices).

    Parameters
    ----------
    labels : (n_units,) object array
        Region of each unit (``None`` outside the regions).
    trial_latents : (n_sessions * trials, n_latent) float array
        Latent vector of the image shown on each trial.
    sessions, trials : int
        Number of sessions and trials per session.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    (n_sessions * trials, n_units) float64 array
        Baseline, session offset and gain, and tuned signal plus noise.
    """
    n_units = labels.size
    snr = voxel_snr(labels, rng)
    response = trial_latents @ voxel_tuning(labels, trial_latents.shape[1], rng)
    noise = rng.standard_normal(response.shape)
    baseline = rng.normal(1.0, 0.8, n_units)
    offset = np.repeat(rng.normal(0.0, 0.6, (sessions, n_units)), trials, axis=0)
    gain = np.repeat(rng.uniform(0.6, 1.4, (sessions, n_units)), trials, axis=0)
    return baseline + offset + gain * NOISE_PSC * (snr * response + noise)


def simulate_betas(labels, trial_latents, sessions, trials, rng):
    """Simulate int16 betas of one subject's brain voxels (:func:`simulate_psc` x 300).

    Returns
    -------
    (n_sessions * trials, n_brain) int16 array
    """
    psc = simulate_psc(labels, trial_latents, sessions, trials, rng)
    return np.round(psc * PSC_SCALE).astype(np.int16)


def zero_sessions(betas, voxels, sessions, trials):
    """Set whole sessions of some voxels to 0, as at the edge of real NSD volumes.

    Parameters
    ----------
    betas : (n_trials, n_brain) int16 array
        Modified in place.
    voxels, sessions : sequence of int
        Brain-voxel index and 1-based session of each voxel to silence.
    trials : int
        Trials per session.
    """
    for voxel, session in zip(voxels, sessions, strict=True):
        betas[(session - 1) * trials : session * trials, voxel] = 0


def write_sessions(betas_dir, betas, brain, trials):
    """Write one ``betas_sessionNN.hdf5`` per session, chunked per voxel like NSD.

    Parameters
    ----------
    betas_dir : pathlib.Path
        The subject's ``betas`` folder.
    betas : (n_sessions * trials, n_brain) int16 array
        Values of the brain voxels.
    brain : (Z, Y, X) bool array
        The brain mask; voxels outside it are 0.
    trials : int
        Trials per session.
    """
    betas_dir.mkdir(parents=True, exist_ok=True)
    flat = np.flatnonzero(brain)
    for index in range(betas.shape[0] // trials):
        volume = np.zeros((trials, brain.size), dtype=np.int16)
        volume[:, flat] = betas[index * trials : (index + 1) * trials]
        path = betas_dir / f"betas_session{index + 1:02d}.hdf5"
        with h5py.File(path, "w") as handle:
            handle.create_dataset(
                "betas",
                data=volume.reshape((trials, *brain.shape)),
                chunks=(trials, 1, 1, 1),
                track_times=False,
            )
