"""Write the surface (fsaverage) family of a validation tree: :func:`build_surface`.

Files, packaging layout (see :mod:`nsdval.synth.layout` for the official one):

- ``fsaverage_labels/{lh,rh}.{Kastner2015,streams,nsdgeneral}.mgz`` and ``NAME.mgz.ctab``;
- ``subjSS/betas/{lh,rh}.betas_sessionNN.mgh`` and ``subjSS/betas/{lh,rh}.ncsnr.mgh``;
- ``assemblies/Allen2022_surface.REGION_8subj.nc``;
- ``brainscore_surface/Allen2022_fmri_surface_{train,test}_8subj.nc``;
- ``benchmark_surface/REGION/{activations_train.nc, activations_test.nc, score.json,
  score_rdm.json}``.

The design, image latents and model features are the volume's (same seed, same files), so
a tree with both families has one ``nsd_expdesign.mat`` and one split.
"""

from __future__ import annotations

import warnings

import numpy as np

from nsdval.synth import packager, surface, surface_packager, variant_tree
from nsdval.synth.fsaverage import make_labels, region_vertices, write_labels
from nsdval.synth.presets import HEMISPHERES, REGIONS

SUFFIX = "_8subj"
SPLIT_SEED = 42


def build_surface(root, sizes, design, space, features, fault, seed, four=None):
    """Write the surface files of a validation tree; return its ``synth.json`` summary.

    Parameters
    ----------
    root : pathlib.Path
        Tree root, packaging layout.
    sizes : Preset
        A preset with ``surface`` sizes.
    design : Design
        The experimental design (already written).
    space : ImageSpace
        Latent image vectors.
    features : (n_images, n_features) float array
        Model features of the assembly images (sorted by nsd_id).
    fault : str or None
        Active fault (surface faults change the packaged outputs; others change nothing).
    seed : numpy.random.SeedSequence
        The surface family's randomness.
    four : dict or None
        The 4-subject plan (:func:`nsdval.synth.variant_tree.plan`), to also write the
        4-subject files (and, unless ``four["with_8subj"]``, not the 8-subject ones).

    Returns
    -------
    dict
    """
    label_seed, subject_seed = seed.spawn(2)
    label_rng = np.random.default_rng(label_seed)
    n_vertices = sizes.surface.n_vertices
    labels = {h: make_labels(n_vertices, sizes.surface.sizes[h], label_rng) for h in HEMISPHERES}
    write_labels(root / "fsaverage_labels", labels)
    ids = design.assembly_ids()
    rows = packager.make_split(ids.size, SPLIT_SEED)
    blocks, reps, subjects = [], [], {}
    for index, rng_seed in enumerate(subject_seed.spawn(sizes.n_subjects)):
        rng = np.random.default_rng(rng_seed)
        subject_blocks, summary, counts = surface.build_subject(
            root, design, space, labels, index, rng, fault, ids[rows[1]]
        )
        summary["nsdgeneral_nc"] = nsdgeneral_nc(subject_blocks[0].ncsnr, labels)
        blocks += subject_blocks
        reps.append(counts)
        subjects[subject_blocks[0].subject] = summary
    shared = np.sort(design.sharedix - 1)
    min_reps = np.min(reps, axis=0)
    complete = np.flatnonzero(min_reps == 3)
    if not np.array_equal(shared[complete], ids):
        raise RuntimeError("the images shown 3 times differ from the design's assembly images")
    scores = {"scores": None, "scores_rdm": None}
    if four is None or four["with_8subj"]:
        images = (shared, min_reps, ids, complete, rows)
        scores = _write_packaged(root, blocks, images, features, fault)
    truth = _summary(labels, blocks, subjects, (shared, ids, complete, rows), scores, n_vertices)
    if four is not None:
        truth["variant_4subj"] = variant_tree.write_surface(root, blocks, reps, shared, four)
    return truth


def _write_packaged(root, blocks, images, features, fault):
    """Write the region and Brain-Score assemblies and the benchmark files.

    Returns :func:`nsdval.synth.packager.write_benchmark`'s scores (ridge and rdm).
    """
    shared, min_reps, ids, complete, rows = images
    for region in REGIONS:
        array = surface_packager.region_assembly(blocks, region, shared, min_reps, fault)
        packager.write_array(array, root / "assemblies" / f"Allen2022_surface.{region}{SUFFIX}.nc")
    assemblies = surface_packager.brainscore_assemblies(blocks, ids, complete, rows, fault)
    for split, array in zip(("train", "test"), assemblies, strict=True):
        path = root / "brainscore_surface" / f"Allen2022_fmri_surface_{split}{SUFFIX}.nc"
        packager.write_array(array, path)
    acts = tuple(packager.activations(features[r], ids[r]) for r in rows)
    return surface_packager.write_benchmark(root / "benchmark_surface", assemblies, acts, fault)


def _summary(labels, blocks, subjects, images, scores, n_vertices):
    """The surface family's part of ``synth.json``: sizes, noise ceilings, NaN cells, scores."""
    shared, ids, complete, rows = images
    return {
        "n_vertices": n_vertices,
        "vertices": {
            region: {h: int(region_vertices(labels[h], region).size) for h in HEMISPHERES}
            for region in REGIONS
        },
        "nsdgeneral_vertices": {h: int(labels[h]["nsdgeneral"].sum()) for h in HEMISPHERES},
        "n_shared": int(shared.size),
        "n_images": int(ids.size),
        "subjects": subjects,
        "nsdgeneral_nc_mean": float(np.mean([s["nsdgeneral_nc"] for s in subjects.values()])),
        "neuroids": {
            region: int(sum(b.vertex_index.size for b in blocks if b.region == region))
            for region in REGIONS
        },
        "nan_cells": _nan_cells(blocks, complete, rows),
        **scores,
    }


def nsdgeneral_nc(ncsnr, labels):
    """NSD's published noise-ceiling statistic for one subject, from its ncsnr files.

    The median over the vertices with ``nsdgeneral > 0`` (lh then rh) of
    100 ncsnr^2 / (ncsnr^2 + 1/3); vertices whose ncsnr is NaN are skipped.
    """
    values = np.concatenate(
        [ncsnr[h][labels[h]["nsdgeneral"] > 0].astype(np.float64) for h in HEMISPHERES]
    )
    return float(np.nanmedian(surface_packager.nc_testset(values)))


def _nan_cells(blocks, complete, rows):
    """Count the cells the NaN rules decide, over the Brain-Score images of every block.

    ``filled_train``: train cells whose repetition mean is NaN (stored as 0);
    ``filled_test_repetitions``: test repetitions that are NaN (stored as 0);
    ``test_mean_differs``: test image cells with some but not all repetitions NaN, where
    the mean of the stored repetitions differs from the train-style mean.
    """
    counts = {"filled_train": 0, "filled_test_repetitions": 0, "test_mean_differs": 0}
    for block in blocks:
        per_rep = block.per_rep[complete]
        missing = np.isnan(per_rep)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            counts["filled_train"] += int(np.isnan(np.nanmean(per_rep[rows[0]], axis=1)).sum())
        counts["filled_test_repetitions"] += int(missing[rows[1]].sum())
        some = missing[rows[1]].sum(axis=1)
        counts["test_mean_differs"] += int(((some > 0) & (some < 3)).sum())
    return counts
