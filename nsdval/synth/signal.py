"""The planted ground truth: latent image features, voxel tuning and model features.

Every image has a latent vector. A voxel's repeatable response is a unit-variance linear
read-out of that vector, scaled by the voxel's signal-to-noise ratio; the model features are
another linear read-out plus noise, so a linear model can predict the responses but not
perfectly.
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


def voxel_tuning(n_latent, n_voxels, rng):
    """Draw unit-norm read-out weights, one column per voxel.

    Returns
    -------
    (n_latent, n_voxels) float array
        Responses ``latents @ weights`` have unit variance over images.
    """
    weights = rng.standard_normal((n_latent, n_voxels))
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
