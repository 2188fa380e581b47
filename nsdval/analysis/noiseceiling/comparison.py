"""The noise ceiling three ways: recomputed from the raw betas, in the assembly, in NSD's file.

``nc_testset`` is NSD's noise ceiling in percent for averages of three trials,
``100 ncsnr^2 / (ncsnr^2 + 1/3)`` (NaN -> 0). The benchmark keeps the neuroids above 30, so
a wrong ``nc_testset`` silently changes which voxels are scored. This module lines up, for
one subject and region:

- ``ncsnr`` recomputed from the raw betas (:mod:`nsdval.analysis.extraction`, :mod:`.formula` over
  every image shown three times);
- the assembly's ``nc_testset`` coordinate;
- NSD's own ncsnr file beside the betas, when the tree has it (read through the tree's
  :class:`~nsdval.data.space.DataSpace`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nsdval.analysis import checks
from nsdval.analysis.noiseceiling.formula import NC_THRESHOLD, noise_ceiling_percent

SECTION = "2. Raw betas bypass"


@dataclass(frozen=True)
class NoiseCeiling:
    """One subject and region's noise ceilings, voxel by voxel (percent unless noted).

    Attributes
    ----------
    recomputed : (n_voxels,) float64 array
        From the raw betas.
    assembly : (n_voxels,) float64 array
        The assembly's ``nc_testset``; empty when its neuroids are not the ROI's voxels.
    volume : (n_voxels,) float64 array or None
        From the tree's ``ncsnr.nii.gz``; None when the tree has none.
    ncsnr, volume_ncsnr : (n_voxels,) float64 arrays (volume_ncsnr may be None)
        The SNRs behind ``recomputed`` and ``volume``.
    volume_path : str
        Where the volume is (or would be).
    nan_kept : bool
        NaN ceilings are kept (the surface packaging), not written as 0.
    space : str
        The data space's name; the ncsnr file's checks are named for it.
    ncsnr_described : str
        The ncsnr file's name, for messages.
    """

    recomputed: np.ndarray
    assembly: np.ndarray
    volume: np.ndarray | None
    ncsnr: np.ndarray
    volume_ncsnr: np.ndarray | None
    volume_path: str
    nan_kept: bool = False
    space: str = "volume"
    ncsnr_described: str = "ncsnr.nii.gz"


def compare_noise_ceilings(space, subject, *, coords, ncsnr, assembly_nc):
    """Collect the three noise ceilings of one subject's region.

    Parameters
    ----------
    space : DataSpace
        The tree's raw files.
    subject : int
    coords : (n_voxels, n_unit_coords) int array
        The region's units, in the order of ``ncsnr``.
    ncsnr : (n_voxels,) float array
        Recomputed from the raw betas.
    assembly_nc : (n_neuroids,) float array
        The assembly's ``nc_testset`` for this subject and region; compared only when
        ``n_neuroids == n_voxels`` (the voxel checks report a mismatch).

    Returns
    -------
    NoiseCeiling
    """
    ncsnr = np.asarray(ncsnr, dtype=np.float64)
    assembly_nc = np.asarray(assembly_nc, dtype=np.float64)
    path = space.ncsnr_path(subject)
    volume_ncsnr = space.read_ncsnr(subject, coords)
    zeroed = not space.betas_hold_nan  # the surface packaging keeps NaN in nc_testset
    return NoiseCeiling(
        recomputed=noise_ceiling_percent(ncsnr, nan_to_zero=zeroed),
        assembly=assembly_nc if assembly_nc.shape == ncsnr.shape else np.zeros(0),
        volume=None
        if volume_ncsnr is None
        else noise_ceiling_percent(volume_ncsnr, nan_to_zero=zeroed),
        ncsnr=ncsnr,
        volume_ncsnr=volume_ncsnr,
        volume_path=str(path),
        nan_kept=not zeroed,
        space=space.name,
        ncsnr_described=space.ncsnr_described,
    )


def noise_ceiling_checks(nc, *, tolerance):
    """Checks of NSD's ncsnr file: against the recomputation and the assembly.

    Named for the space whose file it is: ``ncsnr-volume`` and ``nc-testset-volume``
    (``ncsnr.nii.gz``), ``ncsnr-surface`` and ``nc-testset-surface`` (``{lh,rh}.ncsnr.mgh``).
    The recomputed ceiling against the assembly is section 2's ``nc-testset`` check.
    Without the file, one passing note says so (NSD ships one; a copy may lack it).
    """
    name = nc.ncsnr_described
    if nc.volume is None:
        detail = f"no ncsnr file at {nc.volume_path}; compared with the assembly only"
        return [
            checks.condition_check(
                section=SECTION, name=f"ncsnr-{nc.space}", ok=True, detail=detail
            )
        ]
    return [
        checks.difference_check(
            section=SECTION,
            name=f"ncsnr-{nc.space}",
            reproduced=nc.recomputed,
            actual=nc.volume,
            tolerance=tolerance,
            what=f"noise ceilings (percent): raw betas vs {name}",
            equal_nan=nc.nan_kept,
        ),
        checks.difference_check(
            section=SECTION,
            name=f"nc-testset-{nc.space}",
            reproduced=nc.volume,
            actual=nc.assembly,
            tolerance=tolerance,
            what=f"noise ceilings (percent): {name} vs nc_testset",
            equal_nan=nc.nan_kept,
        ),
    ]


def summary_table(nc, *, threshold=NC_THRESHOLD):
    """One row per source: voxels, median and mean ceiling, voxels kept, gap to the betas.

    Returns
    -------
    pandas.DataFrame
        Index ``raw betas (recomputed)``, ``assembly nc_testset`` and, with a volume,
        ``ncsnr.nii.gz``.
    """
    sources = {"raw betas (recomputed)": nc.recomputed, "assembly nc_testset": nc.assembly}
    if nc.volume is not None:
        sources["ncsnr.nii.gz"] = nc.volume
    rows = {}
    for name, values in sources.items():
        same = values.shape == nc.recomputed.shape and values.size > 0
        gap = float(np.max(np.abs(values - nc.recomputed))) if same else np.nan
        rows[name] = {
            "voxels": int(values.size),
            "median %": float(np.median(values)) if values.size else np.nan,
            "mean %": float(np.mean(values)) if values.size else np.nan,
            f"kept (> {threshold:g})": int(np.sum(values > threshold)),
            "max |diff| vs betas": gap,
        }
    return pd.DataFrame.from_dict(rows, orient="index")
