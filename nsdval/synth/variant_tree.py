"""Write the 4-subject (``_4subj``) files of a validation tree (:mod:`nsdval.synth.variant`).

Files (packaging and official layout alike, at the root):

- ``assemblies/train_test_split_4subj.csv``;
- volume: ``assemblies/Allen2022.REGION_4subj.nc``,
  ``brainscore/Allen2022_fmri_{train,test}_4subj.nc``,
  ``benchmark_4subj/REGION/{activations_train.nc, activations_test.nc, score.json,
  score_rdm.json}``;
- surface: ``assemblies/Allen2022_surface.REGION_4subj.nc``,
  ``brainscore_surface/Allen2022_fmri_surface_{train,test}_4subj.nc``,
  ``benchmark_surface_4subj/REGION/`` (same names).

The blocks are the 8-subject chain's (same betas, session z-score, ncsnr) restricted to
subjects 1, 2, 5 and 7, with the repetitions of the 4-subject images.
"""

from __future__ import annotations

import numpy as np

from nsdval.synth import packager, surface_packager, variant
from nsdval.synth.presets import REGIONS
from nsdval.synth.signal import model_features

SPLIT_FILE = "train_test_split_4subj.csv"


def plan(design, space, sizes, fault, seed, variants):
    """Return the 4-subject images, their trials, split and model features.

    Parameters
    ----------
    design : Design
        The experimental design.
    space : ImageSpace
        Latent image vectors.
    sizes : Preset
        The preset (feature sizes).
    fault : str or None
        Active fault; only 4-subject faults act here.
    seed : numpy.random.SeedSequence
        The variant's randomness (its model features' noise).
    variants : tuple of str
        The variants written (``with_8subj`` records whether the 8-subject files are).
    """
    fault = variant.fault_of(fault)
    ids = variant.image_ids(design, fault)
    ids8 = design.assembly_ids()
    rows8 = packager.make_split(ids8.size, variant.SPLIT_SEED)
    rows = variant.split_rows(ids, ids8, rows8, packager.make_split, fault)
    features = model_features(
        space, ids, sizes.n_features, sizes.feature_noise, np.random.default_rng(seed)
    )
    return {
        "ids": ids,
        "trials": variant.trial_index(design, ids),
        "rows": rows,
        "features": features,
        "fault": fault,
        "with_8subj": "8subj" in variants,
    }


def write_split(root, four):
    """Write ``assemblies/train_test_split_4subj.csv``."""
    (root / "assemblies").mkdir(parents=True, exist_ok=True)
    table = packager.split_table(four["ids"], four["rows"])
    table.to_csv(root / "assemblies" / SPLIT_FILE, index=False)


def _activations(four):
    """The train and test model activations of the 4-subject images."""
    ids, features = four["ids"], four["features"]
    return tuple(packager.activations(features[r], ids[r]) for r in four["rows"])


def write_volume(root, blocks, four):
    """Write the volume 4-subject files; return their ``synth.json`` summary."""
    ids, rows, fault = four["ids"], four["rows"], four["fault"]
    write_split(root, four)
    for region in REGIONS:
        array = packager.region_assembly(blocks, region, ids)
        packager.write_array(array, root / "assemblies" / f"Allen2022.{region}_4subj.nc")
    # the rng serves the neuroids-shuffled fault only, never planted here
    assemblies = packager.brainscore_assemblies(blocks, ids, rows, fault, None)
    for split, array in zip(("train", "test"), assemblies, strict=True):
        packager.write_array(array, root / "brainscore" / f"Allen2022_fmri_{split}_4subj.nc")
    scores = packager.write_benchmark(
        root / "benchmark_4subj", assemblies, _activations(four), "Allen2022_fmri_4subj"
    )
    return _summary(four, blocks, scores)


def write_surface(root, blocks, reps, shared, four):
    """Write the surface 4-subject files; return their ``synth.json`` summary.

    Parameters
    ----------
    root : pathlib.Path
        Tree root.
    blocks : sequence of SurfaceBlock
        Every subject's blocks (the four subjects' are used).
    reps : sequence of (n_shared,) int arrays
        Times each subject saw each shared image, one array per subject.
    shared : (n_shared,) int array
        Sorted 0-based ids of the shared images.
    four : dict
        :func:`plan`'s result.
    """
    ids, rows, fault = four["ids"], four["rows"], four["fault"]
    chosen = variant.chosen(blocks)
    subjects = range(len(reps)) if fault == "4subj-515-images" else variant.SUBJECTS
    min_reps = np.min([reps[index] for index in subjects], axis=0)
    complete = np.searchsorted(shared, ids)
    if not np.array_equal(np.flatnonzero(min_reps == 3), complete):
        raise RuntimeError("the 4-subject images differ from those shown 3 times to them")
    write_split(root, four)
    for region in REGIONS:
        array = surface_packager.region_assembly(chosen, region, shared, min_reps, fault)
        path = root / "assemblies" / f"Allen2022_surface.{region}_4subj.nc"
        packager.write_array(array, path)
    assemblies = surface_packager.brainscore_assemblies(chosen, ids, complete, rows, fault)
    for split, array in zip(("train", "test"), assemblies, strict=True):
        path = root / "brainscore_surface" / f"Allen2022_fmri_surface_{split}_4subj.nc"
        packager.write_array(array, path)
    scores = surface_packager.write_benchmark(
        root / "benchmark_surface_4subj",
        assemblies,
        _activations(four),
        fault,
        name="Allen2022_fmri_surface_4subj",
    )
    return _summary(four, chosen, scores)


def _summary(four, blocks, scores):
    """The 4-subject part of ``synth.json``: subjects, images, split, neuroids, scores.

    ``scores`` is :func:`nsdval.synth.packager.write_benchmark`'s result (ridge and rdm).
    """
    return {
        "subjects": [variant.subject_label(index) for index in variant.SUBJECTS],
        "n_images": int(four["ids"].size),
        "n_train": int(four["rows"][0].size),
        "n_test": int(four["rows"][1].size),
        "neuroids": {region: _neuroids(blocks, region) for region in REGIONS},
        **scores,
    }


def _neuroids(blocks, region):
    """Number of neuroids of ``region`` in the blocks (voxels or vertices)."""
    return int(sum(block.per_rep.shape[2] for block in blocks if block.region == region))
