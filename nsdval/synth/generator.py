"""Build a whole synthetic NSD tree: :func:`synthesize`.

The tree is built in a temporary sibling folder and renamed into place at the end, so a
crash never leaves a half-written dataset behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from nsdval.errors import OutputError, ParameterError
from nsdval.synth import (
    faults,
    full,
    packager,
    rdm_faults,
    surface_full,
    surface_tree,
    variant_tree,
)
from nsdval.synth import layout as layout_module
from nsdval.synth import variant as variant_module
from nsdval.synth.betas import region_labels, simulate_betas, write_sessions, zero_sessions
from nsdval.synth.design import make_design, write_expdesign
from nsdval.synth.preprocess import (
    Block,
    ncsnr,
    repetitions,
    session_zscore,
    to_psc,
    voxel_columns,
)
from nsdval.synth.presets import REGIONS, get_preset
from nsdval.synth.signal import make_image_space, model_features
from nsdval.synth.surface_faults import SURFACE_FAULTS
from nsdval.synth.volumes import make_anatomy, write_nifti, write_rois

SPACES = ("volume", "surface")

ZERO_VOXEL_SESSION = 2
N_EDGE_ZEROS = 3


def synthesize(
    out_dir,
    *,
    preset="tiny",
    seed=0,
    fault=None,
    sessions=None,
    space="volume",
    layout="packaging",
    variant="8subj",
):
    """Write a synthetic NSD tree, with known ground truth.

    ``tiny`` and ``demo`` are validation trees (only ``demo`` has the 4-subject files);
    ``full`` is a timing dataset (:mod:`nsdval.synth.full`, ``surface_full``).

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Target folder; must not exist or be empty.
    preset : str
        One of :data:`nsdval.synth.PRESETS`.
    seed : int
        Seed of all randomness; the same seed gives the same tree.
    fault : str or None
        A name of ``FAULTS``, ``RDM_FAULTS``, ``SURFACE_FAULTS``, ``VARIANT_FAULTS`` (no ``full``).
    sessions : int or None
        Sessions to write, ``full`` only (default 4); the other presets fix their own.
    space : str or sequence of str
        ``"volume"`` (default), ``"surface"``, ``"all"`` or ``"volume,surface"``.
    layout : str
        ``"packaging"`` (default) or ``"official"`` (:mod:`nsdval.synth.layout`).
    variant : str
        ``"8subj"`` (default), ``"4subj"`` or ``"both"`` (:mod:`nsdval.synth.variant`).

    Returns
    -------
    pathlib.Path
        ``out_dir``.
    """
    sizes, spaces = get_preset(preset), parse_spaces(space)
    variants = _check_request(sizes, spaces, layout, fault, preset, variant)
    sessions = _session_count(sizes, sessions, fault)
    out_dir, staging = Path(out_dir), _staging_folder(Path(out_dir))
    try:
        if sizes.streamed:
            truth = _build_full(staging, sizes, sessions, seed, spaces)
        else:
            truth = _build(staging, sizes, seed, fault, spaces, variants)
        truth = _describe(preset, seed, fault, spaces, layout, truth, variants)
        if layout == "official":
            layout_module.to_official(staging)
        (staging / "synth.json").write_text(json.dumps(truth, indent=2) + "\n")
        if out_dir.exists():
            out_dir.rmdir()
        staging.replace(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _check_request(sizes, spaces, layout, fault, preset, variant="8subj"):
    """Check layout, spaces, variants and fault against the preset; return the variants."""
    if layout not in layout_module.LAYOUTS:
        raise ParameterError("layout", f"expected packaging or official, got {layout!r}")
    if "surface" in spaces and sizes.surface is None:
        raise ParameterError("space", f"the {preset} preset has no surface sizes")
    _check_fault(fault, spaces)
    variants = variant_module.parse_variants(variant)
    variant_module.check_preset(sizes, variants)
    _check_variant_fault(fault, variants)
    return variants


def _staging_folder(out_dir):
    """A fresh folder beside ``out_dir`` (which must be absent or empty) to write into."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise OutputError(out_dir, "exists and is not an empty folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{out_dir.name}.tmp-", dir=out_dir.parent))


def _describe(preset, seed, fault, spaces, layout, truth, variants=("8subj",)):
    """The tree's ``synth.json``: what was asked for, then the ground truth."""
    every = {**_volume_faults(), **SURFACE_FAULTS, **variant_module.FAULTS}
    about = every.get(fault) if fault else None
    return {
        "preset": preset,
        "seed": seed,
        "fault": fault,
        "fault_description": about,
        # absent keys mean the defaults, so a volume tree's synth.json is unchanged
        **({"spaces": list(spaces)} if spaces != ("volume",) else {}),
        **({"layout": layout} if layout != "packaging" else {}),
        **({"variants": list(variants)} if variants != ("8subj",) else {}),
        **truth,
    }


def parse_spaces(space):
    """Return the spaces a ``space`` argument names, in canonical order.

    Examples
    --------
    >>> parse_spaces("surface,volume"), parse_spaces("all"), parse_spaces(["surface"])
    (('volume', 'surface'), ('volume', 'surface'), ('surface',))
    """
    names = space.split(",") if isinstance(space, str) else list(space)
    names = [name.strip() for name in names]
    if names == ["all"]:
        names = list(SPACES)
    unknown = [name for name in names if name not in SPACES]
    if unknown or not names:
        raise ParameterError(
            "space", f"expected volume, surface, all or volume,surface, got {space!r}"
        )
    return tuple(name for name in SPACES if name in names)


def _check_fault(fault, spaces):
    """Check that ``fault`` is None or a fault of one of the tree's spaces."""
    if fault is None:
        return
    if fault in variant_module.FAULTS:
        return
    if fault in SURFACE_FAULTS:
        owner = "surface"
    elif fault in _volume_faults():
        owner = "volume"
    else:
        names = ", ".join([*_volume_faults(), *SURFACE_FAULTS, *variant_module.FAULTS])
        raise ParameterError("fault", f"expected one of {names}, got {fault!r}")
    if owner not in spaces:
        raise ParameterError("fault", f"{fault!r} is a {owner} fault; space has no {owner}")


def _volume_faults():
    """The faults planted in the volume 8-subject files: packaging, then ``score_rdm.json``."""
    return {**faults.FAULTS, **rdm_faults.RDM_FAULTS}


def _check_variant_fault(fault, variants):
    """Check that a 4-subject fault comes with the 4-subject variant (and 8-subject ones)."""
    if fault in variant_module.FAULTS and "4subj" not in variants:
        raise ParameterError("fault", f"{fault!r} is a 4-subject fault; add --variant 4subj")
    if fault is not None and fault not in variant_module.FAULTS and "8subj" not in variants:
        raise ParameterError("fault", f"{fault!r} is an 8-subject fault; add --variant 8subj")


def _session_count(sizes, sessions, fault):
    """Check ``sessions`` (and ``fault``) against the preset; the sessions to write."""
    if not sizes.streamed:
        if sessions is not None:
            raise ParameterError(
                "sessions", f"only the full preset takes a session count, not {sizes.name!r}"
            )
        return None
    if fault is not None:
        raise ParameterError("fault", f"the {sizes.name} preset has no packaged outputs")
    if sessions is None:
        return sizes.sessions[0]
    if isinstance(sessions, bool) or not isinstance(sessions, (int, np.integer)) or sessions < 1:
        raise ParameterError("sessions", f"expected a positive integer, got {sessions!r}")
    return int(sessions)


def _build_full(root, sizes, sessions, seed, spaces):
    """Write the ``full`` benchmark files of the chosen spaces; return their summary."""
    truth = full.write_full(root, sizes, sessions, seed) if "volume" in spaces else {}
    if "surface" in spaces:
        write_design = "volume" not in spaces
        truth["surface"] = surface_full.write_full_surface(
            root, sizes, sessions, seed, write_design
        )
    return truth


def _build(root, sizes, seed, fault, spaces=("volume",), variants=("8subj",)):
    """Write every file of the tree under ``root``; return the ground-truth summary."""
    # spawn(6) keeps the first five seeds of the former spawn(5): the 8-subject files stay
    seeds = np.random.SeedSequence(seed).spawn(6)
    design_seed, subject_seed, feature_seed, fault_seed, surface_seed, variant_seed = seeds
    design_rng = np.random.default_rng(design_seed)
    design = make_design(sizes, design_rng)
    write_expdesign(root / "metadata" / "nsd_expdesign.mat", design)
    space = make_image_space(design, sizes.n_latent, design_rng)
    ids = design.assembly_ids()
    features = model_features(
        space, ids, sizes.n_features, sizes.feature_noise, np.random.default_rng(feature_seed)
    )
    four = None
    if "4subj" in variants:
        four = variant_tree.plan(design, space, sizes, fault, variant_seed, variants)
    truth, split = {}, {}
    if "volume" in spaces:
        blocks, blocks4, truth = _volume_subjects(
            root, sizes, design, space, subject_seed, fault, four
        )
        if "8subj" in variants:
            fault_rng = np.random.default_rng(fault_seed)
            split = _package(root, blocks, ids, features, fault, fault_rng)
        if four is not None:
            truth["variant_4subj"] = variant_tree.write_volume(root, blocks4, four)
    elif "8subj" in variants:
        split = _write_split(root, ids)
    truth = {**truth, **_design_summary(sizes, design), **split}
    if "surface" in spaces:
        truth["surface"] = surface_tree.build_surface(
            root, sizes, design, space, features, fault, surface_seed, four
        )
    return truth


def _volume_subjects(root, sizes, design, space, subject_seed, fault, four):
    """Write every subject's volume files; return the 8- and 4-subject blocks and a summary."""
    blocks, blocks4, truth = [], [], {"subjects": {}}
    trials4 = None if four is None else four["trials"]
    for index, rng_seed in enumerate(subject_seed.spawn(sizes.n_subjects)):
        rng = np.random.default_rng(rng_seed)
        wanted = trials4 if index in variant_module.SUBJECTS else None
        parts, summary = _subject(root, sizes, design, space, index, rng, fault, wanted)
        blocks += parts[0]
        blocks4 += parts[1]
        truth["subjects"][f"subj{index + 1:02d}"] = summary
    return blocks, blocks4, truth


def _write_split(root, nsd_ids):
    """Write the split CSV of a tree without the volume family; return its sizes."""
    rows = packager.make_split(nsd_ids.size, faults.split_seed(None))
    (root / "assemblies").mkdir(parents=True, exist_ok=True)
    table = packager.split_table(nsd_ids, rows)
    table.to_csv(root / "assemblies" / "train_test_split_8subj.csv", index=False)
    return {"n_train": int(rows[0].size), "n_test": int(rows[1].size)}


def _subject(root, sizes, design, space, index, rng, fault, trials4=None):
    """Write one subject's ROIs, betas and ncsnr; return its blocks and a summary.

    The blocks are a pair: those of the 8-subject images, and those of the 4-subject
    images (``trials4``, their chronological trials; empty when ``None``).
    """
    label = f"subj{index + 1:02d}"
    anatomy = make_anatomy(sizes.shapes[index], sizes.region_fractions, rng)
    write_rois(root / label / "rois", anatomy)
    trial_ids = design.trial_nsd_ids(index)
    sessions = sizes.sessions[index]
    betas = simulate_betas(
        region_labels(anatomy, REGIONS), space.lookup(trial_ids), sessions, sizes.trials, rng
    )
    zeros = _silence(betas, anatomy, sessions, sizes.trials, rng, first=index == 0)
    write_sessions(root / label / "betas", betas, anatomy.brain, sizes.trials)
    snr = np.full(anatomy.brain.shape, np.nan, dtype=np.float32)
    snr[anatomy.brain] = ncsnr(session_zscore(to_psc(betas), sizes.trials), trial_ids)
    write_nifti(root / label / "betas" / "ncsnr.nii.gz", snr, np.float32)
    values = faults.preprocessed(betas, sizes.trials, fault)
    blocks, blocks4, trial_index = [], [], design.assembly_trials()
    for region in REGIONS:
        columns, coords = voxel_columns(anatomy.brain, anatomy.region_mask(region))
        per_rep = repetitions(values[:, columns], trial_index)
        blocks.append(Block(label, region, coords, snr[anatomy.brain][columns], per_rep))
        if trials4 is not None:
            per_rep4 = repetitions(values[:, columns], trials4)
            blocks4.append(Block(label, region, coords, blocks[-1].ncsnr, per_rep4))
    summary = {
        "sessions": sessions,
        "volume_shape": list(sizes.shapes[index]),
        "brain_voxels": int(anatomy.brain.sum()),
        "voxels": {block.region: int(block.coords.shape[0]) for block in blocks},
        "zero_sessions": zeros,
    }
    return (blocks, blocks4), summary


def _silence(betas, anatomy, sessions, trials, rng, first):
    """Zero some voxels for a whole session; on the first subject, one V1 voxel in session 2.

    Returns the silenced voxels as ``{"voxel": [z, y, x] (HDF5 axes), "session": n}``.
    """
    flat = np.flatnonzero(anatomy.brain)
    edge = np.flatnonzero((anatomy.prf == 0) & (anatomy.streams == 0))
    chosen = list(rng.choice(edge, N_EDGE_ZEROS, replace=False))
    chosen_sessions = [int(s) for s in rng.integers(1, sessions + 1, N_EDGE_ZEROS)]
    if first:
        chosen.insert(0, np.flatnonzero(anatomy.region_mask("V1"))[0])
        chosen_sessions.insert(0, ZERO_VOXEL_SESSION)
    zero_sessions(betas, np.searchsorted(flat, chosen), chosen_sessions, trials)
    return [
        {
            "voxel": [int(i) for i in np.unravel_index(voxel, anatomy.brain.shape)],
            "session": session,
        }
        for voxel, session in zip(chosen, chosen_sessions, strict=True)
    ]


def _package(root, blocks, nsd_ids, features, fault, rng):
    """Write the split, the assemblies, the activations and the scores (ridge and rdm)."""
    labelled = nsd_ids + faults.id_offset(fault)
    rows = packager.make_split(nsd_ids.size, faults.split_seed(fault))
    table = packager.split_table(labelled, rows)
    (root / "assemblies").mkdir(parents=True, exist_ok=True)
    table.to_csv(root / "assemblies" / "train_test_split_8subj.csv", index=False)
    for region in REGIONS:
        assembly = packager.region_assembly(blocks, region, labelled)
        packager.write_array(assembly, root / "assemblies" / f"Allen2022.{region}_8subj.nc")
    bs_rows = (faults.train_rows(rows[0], rows[1], fault), rows[1])
    assemblies = packager.brainscore_assemblies(blocks, labelled, bs_rows, fault, rng)
    for split, assembly in zip(("train", "test"), assemblies, strict=True):
        packager.write_array(assembly, root / "brainscore" / f"Allen2022_fmri_{split}_8subj.nc")
    acts = tuple(packager.activations(features[r], labelled[r]) for r in bs_rows)
    scores = packager.write_benchmark(
        root / "benchmark",
        assemblies,
        acts,
        "Allen2022_fmri",
        falsify=lambda report, region: faults.falsify_score(report, region, fault),
        rdm_fault=fault,
    )
    return {"n_train": int(rows[0].size), "n_test": int(rows[1].size), **scores}


def _design_summary(sizes, design):
    """Return the design sizes for ``synth.json``."""
    return {
        "trials_per_session": sizes.trials,
        "n_images": int(design.assembly_ids().size),
        "n_shared": int(design.sharedix.size),
        "n_images_per_subject": int(design.subjectim.shape[1]),
        "regions": list(REGIONS),
    }
