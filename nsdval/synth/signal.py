"""The planted ground truth: latent image features, voxel tuning and model features.

Every image has a latent vector. A voxel's repeatable response is a unit-variance linear
read-out of that vector, scaled by the voxel's signal-to-noise ratio; the model features are
another linear read-out of all the latents plus noise, so a linear model can predict the
responses but not perfectly.

A region hierarchy is planted in the read-outs: the latent dimensions lie in order along the
ventral stream (dimension ``k`` of ``n`` at position ``k / (n - 1)``), and each region of
:data:`HIERARCHY` reads out mostly the band of latents around its position, with Gaussian
weights of standard deviation :data:`BAND_WIDTH` (:func:`read_out_profile`). Neighbouring
regions share much of their band, V1 and IT little, so the regions' RDMs form a gradient:
V1-V2, V2-V4 and V4-IT more alike than V1-IT. Voxels outside the four regions read out every
latent alike. A region's voxels, sharing one band, also move together: its ridge score varies
more from one set of test images to another than with read-outs of every latent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# log-uniform ranges of the per-voxel signal-to-noise ratio (= the expected ncsnr)
SNR_RANGES = {
    "V1": (0.15, 1.3),
    "V2": (0.15, 1.3),
    "V4": (0.15, 1.3),
    "IT": (0.15, 1.3),
    None: (0.05, 0.5),
}
HIERARCHY = {"V1": 0.0, "V2": 1 / 3, "V4": 2 / 3, "IT": 1.0}
"""Each region's position along the stream, the centre of the latent band it reads out."""
BAND_WIDTH = 0.4
"""Standard deviation of a region's read-out profile, in units of the latent range."""


@dataclass(frozen=True)
class ImageSpace:
    """Latent vectors of every image in the design.

    Parameters
    ----------
    ids : (n_images,) int array
        Sorted 0-based NSD ids.
    latents : (n_images, n_latent) float array
        Standard normal latent vector of each image.
    """

    ids: np.ndarray
    latents: np.ndarray

    def lookup(self, nsd_ids):
        """Return the (n, n_latent) latent vectors of 0-based NSD ids."""
        return self.latents[np.searchsorted(self.ids, nsd_ids)]


def make_image_space(design, n_latent, rng):
    """Draw a latent vector for every image any subject sees.

    Parameters
    ----------
    design : Design
        The experimental design.
    n_latent : int
        Dimension of the latent space.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    ImageSpace
    """
    ids = np.unique(design.subjectim) - 1
    return ImageSpace(ids=ids, latents=rng.standard_normal((ids.size, n_latent)))


def voxel_snr(region_of_voxel, rng):
    """Draw each voxel's signal-to-noise ratio from its region's log-uniform range.

    Parameters
    ----------
    region_of_voxel : (n_voxels,) object array
        Region name of each brain voxel, or ``None`` outside the four regions.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    (n_voxels,) float array
    """
    low = np.array([SNR_RANGES[region][0] for region in region_of_voxel])
    high = np.array([SNR_RANGES[region][1] for region in region_of_voxel])
    return np.exp(rng.uniform(np.log(low), np.log(high)))


def read_out_profile(region_of_voxel, n_latent):
    """Return each voxel's expected read-out magnitude over the latents.

    Parameters
    ----------
    region_of_voxel : (n_voxels,) object array
        Region name of each voxel, or ``None`` outside the four regions.
    n_latent : int
        Dimension of the latent space.

    Returns
    -------
    (n_latent, n_voxels) float array
        A Gaussian of :data:`BAND_WIDTH` around the region's :data:`HIERARCHY` position, over
        latent positions ``0 ... 1``; 1 for every latent outside the regions.

    Examples
    --------
    >>> read_out_profile(np.array(["V1", None], dtype=object), 3).round(3).tolist()
    [[1.0, 1.0], [0.458, 1.0], [0.044, 1.0]]
    """
    position = np.linspace(0.0, 1.0, n_latent)
    names = [None, *HIERARCHY]
    table = np.ones((n_latent, len(names)))
    for column, region in enumerate(names[1:], start=1):
        table[:, column] = np.exp(-0.5 * ((position - HIERARCHY[region]) / BAND_WIDTH) ** 2)
    code = {region: column for column, region in enumerate(names)}
    codes = np.fromiter(map(code.__getitem__, region_of_voxel), np.intp, len(region_of_voxel))
    return table[:, codes]


def voxel_tuning(region_of_voxel, n_latent, rng):
    """Draw unit-norm read-out weights, one column per voxel, banded by region.

    Standard normal weights times :func:`read_out_profile`, then unit-normalised: the draws
    do not depend on the regions.

    Parameters
    ----------
    region_of_voxel : (n_voxels,) object array
        Region name of each voxel, or ``None`` outside the four regions.
    n_latent : int
        Dimension of the latent space.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    (n_latent, n_voxels) float array
        Responses ``latents @ weights`` have unit variance over images.
    """
    profile = read_out_profile(region_of_voxel, n_latent)
    weights = rng.standard_normal(profile.shape) * profile
    return weights / np.linalg.norm(weights, axis=0)


def model_features(space, nsd_ids, n_features, noise_std, rng):
    """Return synthetic model activations for images: a linear map of the latents plus noise.

    Parameters
    ----------
    space : ImageSpace
        The latent vectors.
    nsd_ids : (n_images,) int array
        0-based NSD ids, one row of features each.
    n_features : int
        Number of features.
    noise_std : float
        Standard deviation of the feature noise.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    (n_images, n_features) float32 array
    """
    latents = space.lookup(nsd_ids)
    mixing = rng.standard_normal((latents.shape[1], n_features))
    noise = noise_std * rng.standard_normal((latents.shape[0], n_features))
    return (latents @ mixing + noise).astype(np.float32)
