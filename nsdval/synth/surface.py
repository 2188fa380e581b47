"""The fsaverage family of one subject: MGH betas with NSD's NaNs, ncsnr, repetitions.

Betas follow the volume's model (:mod:`nsdval.synth.betas`) on the fsaverage vertices of each
hemisphere, stored as float32 percent signal change (no x300). Some vertices hold NaN, as on
the real surface data: a few in every trial, a few for one whole session, a few on single
trials. The first subject also has one V1 vertex at 0 for a whole session (std 0 counts as
1). Every NaN session and trial falls on a repetition of a test image whose other
repetitions lie in other sessions, so the per-repetition NaN filling shows in the test
assembly.

The chain repeats the surface packaging recipe (NSD_FORMATS, "Surface (fsaverage)
assemblies"): per subject and region, lh then rh vertices in ascending index; z-score each
vertex over each session's trials in float64, NOT NaN-aware (one NaN trial blanks the
vertex's whole session; std 0 -> 1); the three chronological repetitions of every shared
image (NaN where the subject saw it fewer times).

ncsnr is NSD's formula on the same session z-scored values, computed over every image the
subject saw exactly 3 times; the images whose three trials are not all finite are skipped
(a NaN-aware mean over images), so a vertex NaN in one session keeps a finite ncsnr and only
a vertex NaN everywhere gets NaN.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from nsdval.synth import surface_faults
from nsdval.synth.betas import simulate_psc
from nsdval.synth.fsaverage import region_vertices, stream_mgh, write_mgh
from nsdval.synth.preprocess import ncsnr, session_zscore
from nsdval.synth.presets import HEMISPHERES, REGIONS

ZERO_VERTEX_SESSION = 2
# (kind, hemisphere, region or None = outside every region): the NaNs planted per subject
NAN_PLAN = (
    ("all", "lh", "V1"),
    ("all", "rh", None),
    ("session", "rh", "V1"),
    ("session", "lh", "V2"),
    ("trials", "rh", "V2"),
    ("trials", "lh", "IT"),
    ("trials", "lh", None),
)
N_NAN_TRIALS = 2


@dataclass(frozen=True)
class SurfaceBlock:
    """One subject's vertices of one region, ready for packaging.

    Parameters
    ----------
    subject : str
        Subject label, ``subj01``.
    region : str
        Region name.
    hemisphere : (n,) str array
        ``lh`` or ``rh`` per column; lh columns first.
    vertex_index : (n,) int array
        Vertex of each column within its hemisphere, ascending within a hemisphere.
    ncsnr : dict
        ``{"lh": (n_vertices,), "rh": (n_vertices,)}`` float32, as stored in the MGH files.
    per_rep : (n_shared, 3, n) float array
        Session z-scored value of each repetition of each shared image (NaN when missing).
    """

    subject: str
    region: str
    hemisphere: np.ndarray
    vertex_index: np.ndarray
    ncsnr: dict
    per_rep: np.ndarray


def vertex_regions(labels):
    """Return the Brain-Score region of each vertex of one hemisphere (``None`` outside)."""
    regions = np.full(labels["streams"].size, None, dtype=object)
    for region in REGIONS:
        regions[region_vertices(labels, region)] = region
    return regions


def simulate_hemisphere(regions, trial_latents, sessions, trials, rng):
    """Simulate float32 percent-signal-change betas of one hemisphere's vertices.

    Parameters
    ----------
    regions : (n_vertices,) object array
        Region of each vertex, see :func:`vertex_regions`.
    trial_latents : (n_sessions * trials, n_latent) float array
        Latent vector of the image shown on each trial.
    sessions, trials : int
        Number of sessions and trials per session.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    (n_sessions * trials, n_vertices) float32 array
    """
    psc = simulate_psc(regions, trial_latents, sessions, trials, rng)
    return psc.astype(np.float32)


def plant_nans(betas, labels, trial_ids, test_ids, trials, rng, first):
    """Set NaN (and, on the first subject, a zero session) in the betas, in place.

    Parameters
    ----------
    betas : dict
        ``{"lh": (n_trials, n_vertices), "rh": ...}`` float32 arrays.
    labels : dict
        ``{"lh": {...}, "rh": {...}}`` label arrays.
    trial_ids : (n_trials,) int array
        Image of each trial.
    test_ids : (n_test,) int array
        The test images: every NaN session or trial holds one of their repetitions.
    trials : int
        Trials per session.
    rng : numpy.random.Generator
        Picks the vertices and sessions.
    first : bool
        Also zero one V1 vertex for a whole session.

    Returns
    -------
    list of dict
        One record per planted vertex: ``hemisphere``, ``vertex``, ``region``, ``kind``
        (``all``, ``session``, ``trials`` or ``zero``), with ``session`` and ``trials``
        (0-based within the session) where they apply.
    """
    anchors = _split_test_trials(trial_ids, test_ids, trials)
    used = {hemi: set() for hemi in HEMISPHERES}
    records = []
    for kind, hemi, region in NAN_PLAN:
        vertex = _pick(labels[hemi], region, used[hemi], rng)
        record = {"hemisphere": hemi, "vertex": vertex, "region": region, "kind": kind}
        column = betas[hemi][:, vertex]
        if kind == "all":
            column[:] = np.nan
        else:
            anchor = int(rng.choice(anchors))
            session = anchor // trials
            record["session"] = session + 1
            if kind == "session":
                column[session * trials : (session + 1) * trials] = np.nan
            else:
                others = np.setdiff1d(np.arange(trials), [anchor % trials])
                hit = [anchor % trials, *rng.choice(others, N_NAN_TRIALS - 1, replace=False)]
                column[session * trials + np.array(hit)] = np.nan
                record["trials"] = sorted(int(t) for t in hit)
        records.append(record)
    if first:
        vertex = _pick(labels["lh"], "V1", used["lh"], rng)
        session = min(ZERO_VERTEX_SESSION, betas["lh"].shape[0] // trials)
        betas["lh"][(session - 1) * trials : session * trials, vertex] = 0
        zero = {"hemisphere": "lh", "vertex": vertex, "region": "V1", "kind": "zero"}
        records.append({**zero, "session": session})
    return records


def _pick(labels, region, used, rng):
    """A vertex of ``region`` (or outside every region) not picked before."""
    if region is None:
        pool = np.flatnonzero((labels["Kastner2015"] == 0) & (labels["streams"] == 0))
    else:
        pool = region_vertices(labels, region)
    vertex = int(rng.choice(np.setdiff1d(pool, sorted(used))))
    used.add(vertex)
    return vertex


def _split_test_trials(trial_ids, test_ids, trials):
    """Trials of test images whose other repetitions lie in another session."""
    sessions = np.arange(trial_ids.size) // trials
    chosen = []
    for trial in np.flatnonzero(np.isin(trial_ids, test_ids)):
        shown = np.flatnonzero(trial_ids == trial_ids[trial])
        if np.any(sessions[shown] != sessions[trial]):
            chosen.append(trial)
    return np.array(chosen)


def nan_aware_zscore(values, trials):
    """Z-score each column within each session, skipping NaN (the stage-1 fault).

    Examples
    --------
    >>> nan_aware_zscore(np.array([[1.0], [3.0], [np.nan]]), 3).ravel().tolist()
    [-1.0, 1.0, nan]
    """
    sessions = np.asarray(values, dtype=np.float64).reshape(-1, trials, values.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(sessions, axis=1, keepdims=True)
        std = np.nanstd(sessions, axis=1, keepdims=True)
    std[std == 0] = 1.0
    return ((sessions - mean) / std).reshape(values.shape)


def shared_trials(trial_ids, shared_ids):
    """Return the chronological trials of each shared image, -1 where not shown.

    Examples
    --------
    >>> shared_trials(np.array([5, 7, 5, 9, 5, 7]), np.array([5, 7, 8])).tolist()
    [[0, 2, 4], [1, 5, -1], [-1, -1, -1]]
    """
    index = np.full((shared_ids.size, 3), -1, dtype=np.int64)
    for row, image in enumerate(shared_ids):
        shown = np.flatnonzero(trial_ids == image)[:3]
        index[row, : shown.size] = shown
    return index


def gather(values, index):
    """Return ``values[index]`` as (n_images, 3, n) with NaN where ``index`` is -1."""
    gathered = np.asarray(values, dtype=np.float64)[np.maximum(index, 0)]
    gathered[index < 0] = np.nan
    return gathered


def region_block(label, region, labels, stage1, snr, index_of, fault):
    """One subject's region: its vertices (lh then rh) and their shared images' repetitions."""
    chosen = surface_faults.region_columns(labels, region, fault)
    values = np.concatenate([stage1[h][:, chosen[h]] for h in HEMISPHERES], axis=1)
    hemis = np.concatenate([np.full(chosen[h].size, h) for h in HEMISPHERES])
    vertices = np.concatenate([chosen[h] for h in HEMISPHERES])
    return SurfaceBlock(label, region, hemis, vertices, snr, gather(values, index_of))


def write_sessions(betas_dir, hemi, betas, trials):
    """Write ``HEMI.betas_sessionNN.mgh`` files of shape (n_vertices, 1, 1, trials)."""
    for index in range(betas.shape[0] // trials):
        block = betas[index * trials : (index + 1) * trials]
        path = betas_dir / f"{hemi}.betas_session{index + 1:02d}.mgh"
        stream_mgh(path, betas.shape[1], trials, [block])


def build_subject(root, design, space, labels, index, rng, fault, test_ids):
    """Write one subject's MGH betas and ncsnr; return its blocks and a summary.

    Parameters
    ----------
    root : pathlib.Path
        Tree root (packaging layout).
    design : Design
        The experimental design.
    space : ImageSpace
        The latent image vectors.
    labels : dict
        ``{"lh": {...}, "rh": {...}}`` fsaverage labels.
    index : int
        0-based subject index.
    rng : numpy.random.Generator
        The subject's randomness.
    fault : str or None
        Active fault.
    test_ids : (n_test,) int array
        The 8-subject test images (anchors of the planted NaNs).

    Returns
    -------
    blocks : list of SurfaceBlock
        One per region, in V1, V2, V4, IT order.
    summary : dict
        For ``synth.json``.
    reps : (n_shared,) int array
        Times the subject saw each shared image within its sessions (0 to 3).
    """
    label = f"subj{index + 1:02d}"
    trials, sessions = design.trials, design.sessions[index]
    trial_ids = design.trial_nsd_ids(index)
    latents = space.lookup(trial_ids)
    betas = {
        hemi: simulate_hemisphere(vertex_regions(labels[hemi]), latents, sessions, trials, rng)
        for hemi in HEMISPHERES
    }
    planted = plant_nans(betas, labels, trial_ids, test_ids, trials, rng, first=index == 0)
    folder = root / label / "betas"
    snr, stage1 = {}, {}
    for hemi in HEMISPHERES:
        write_sessions(folder, hemi, betas[hemi], trials)
        zscored = session_zscore(betas[hemi], trials)
        snr[hemi] = ncsnr(zscored, trial_ids, skip_nonfinite=True).astype(np.float32)
        write_mgh(folder / f"{hemi}.ncsnr.mgh", snr[hemi][:, None, None])
        nan_aware = fault == "surface-stage1-nan-aware"
        stage1[hemi] = nan_aware_zscore(betas[hemi], trials) if nan_aware else zscored
    index_of = shared_trials(trial_ids, np.sort(design.sharedix - 1))
    blocks = [
        region_block(label, region, labels, stage1, snr, index_of, fault) for region in REGIONS
    ]
    reps = (index_of >= 0).sum(axis=1)
    summary = {
        "sessions": sessions,
        "planted": planted,
        "shared_by_repetitions": np.bincount(reps, minlength=4).tolist(),
    }
    return blocks, summary, reps
