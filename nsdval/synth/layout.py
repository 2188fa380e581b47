"""Move a synthetic tree from the packaging layout to NSD's official layout.

The generator writes the packaging layout (``subjSS/betas``, ``subjSS/rois``, ``metadata``,
``fsaverage_labels``); :func:`to_official` then moves NSD's own files where the official
distribution keeps them. What is validated (``assemblies``, ``brainscore``,
``brainscore_surface``, ``benchmark``, ``benchmark_surface``) stays at the root, as in the
packaging layout.

=====================================  ============================================================
packaging layout                       official layout
=====================================  ============================================================
subjSS/betas/betas_sessionNN.hdf5      nsddata_betas/ppdata/subjSS/func1pt8mm/
subjSS/betas/ncsnr.nii.gz                  betas_fithrf_GLMdenoise_RR/ (same names)
subjSS/betas/{lh,rh}.*.mgh             nsddata_betas/ppdata/subjSS/fsaverage/
                                           betas_fithrf_GLMdenoise_RR/ (same names)
subjSS/rois/NAME.nii.gz                nsddata/ppdata/subjSS/func1pt8mm/roi/NAME.nii.gz
metadata/nsd_expdesign.mat             nsddata/experiments/nsd/nsd_expdesign.mat
fsaverage_labels/*                     nsddata/freesurfer/fsaverage/label/*
=====================================  ============================================================
"""

from __future__ import annotations

from pathlib import Path

LAYOUTS = ("packaging", "official")
BETAS_FOLDER = "betas_fithrf_GLMdenoise_RR"


def official_path(relative):
    """Return where a packaging-layout path goes in the official layout.

    Parameters
    ----------
    relative : str or pathlib.Path
        A file path relative to the tree root, in the packaging layout.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> str(official_path("subj02/betas/lh.betas_session01.mgh"))
    'nsddata_betas/ppdata/subj02/fsaverage/betas_fithrf_GLMdenoise_RR/lh.betas_session01.mgh'
    >>> str(official_path("fsaverage_labels/rh.streams.mgz"))
    'nsddata/freesurfer/fsaverage/label/rh.streams.mgz'
    >>> str(official_path("brainscore/Allen2022_fmri_train_8subj.nc"))
    'brainscore/Allen2022_fmri_train_8subj.nc'
    """
    parts = Path(relative).parts
    name = parts[-1]
    if parts[0].startswith("subj") and len(parts) == 3:
        subject, kind = parts[0], parts[1]
        if kind == "rois":
            return Path("nsddata/ppdata", subject, "func1pt8mm/roi", name)
        space = "fsaverage" if name.startswith(("lh.", "rh.")) else "func1pt8mm"
        return Path("nsddata_betas/ppdata", subject, space, BETAS_FOLDER, name)
    if parts[0] == "metadata" and name == "nsd_expdesign.mat":
        return Path("nsddata/experiments/nsd", name)
    if parts[0] == "fsaverage_labels":
        return Path("nsddata/freesurfer/fsaverage/label", name)
    return Path(relative)


def to_official(root):
    """Move the files of a packaging-layout tree to the official layout, in place.

    Parameters
    ----------
    root : pathlib.Path
        The tree root.
    """
    root = Path(root)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for path in files:
        relative = path.relative_to(root)
        target = root / official_path(relative)
        if target != path:
            target.parent.mkdir(parents=True, exist_ok=True)
            path.replace(target)
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
