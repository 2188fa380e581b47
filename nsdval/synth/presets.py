"""Sizes of the synthetic datasets.

A preset fixes every size of the miniature NSD tree: subjects, volumes, sessions, trials,
images and region sizes. ``tiny`` and ``demo`` differ from each other and from the real
dataset in every size, so that nothing the validator reads can be a hard-coded NSD constant.
``full`` is the exception: one subject at subj01's real size, a timing dataset for the
readers and the ridge (see :mod:`nsdval.synth.full`), not a validation tree.
"""

from __future__ import annotations

from dataclasses import dataclass

from nsdval.errors import ParameterError

REGIONS = ("V1", "V2", "V4", "IT")
HEMISPHERES = ("lh", "rh")


@dataclass(frozen=True)
class SurfaceSizes:
    """Sizes of the fsaverage (surface) family of a synthetic dataset.

    The label files are the same for every subject, as NSD's fsaverage labels are, so the
    region sizes are exact vertex counts per hemisphere.

    Parameters
    ----------
    n_vertices : int
        Vertices per hemisphere (163842 on fsaverage; both hemispheres have as many).
    sizes : dict
        ``{"lh": {...}, "rh": {...}}``: vertex counts of V1, V2, V3 (Kastner2015 labels
        1-2, 3-4, 5-6), V4 (label 7) and IT (streams label 5), and ``nsdgeneral``.
    """

    n_vertices: int
    sizes: dict


@dataclass(frozen=True)
class Preset:
    """All sizes of one synthetic dataset.

    Parameters
    ----------
    name : str
        Preset name.
    shapes : tuple of (int, int, int)
        Volume shape of each subject in NIfTI order (X, Y, Z).
    sessions : tuple of int
        Number of sessions of each subject.
    trials : int
        Trials per session (T).
    n_assembly : int
        Shared images shown 3 times within every subject's sessions (the assembly images).
    n_partial : int
        Further shared images whose third showing falls after the shortest subject's sessions.
    n_twice : int
        Further shared images shown only twice in the whole ordering.
    region_fractions : dict or None
        Fraction of the cortical ribbon given to V1, V2, V4 and IT (jittered by up to 10
        percent); ``None`` when ``region_sizes`` fixes the sizes.
    n_latent : int
        Dimension of the latent image space that drives responses and features.
    n_features : int
        Number of model features in the activations.
    feature_noise : float
        Standard deviation of the noise added to each feature (signal variance is n_latent).
    region_sizes : dict or None
        Exact voxel counts of V1, V2, V4 and IT, for the streamed ``full`` preset.
    streamed : bool
        Written session by session without holding a subject in memory, without
        assemblies: the ``full`` timing dataset. ``sessions`` is then the default
        session count and the fewest sessions the design covers.
    surface : SurfaceSizes or None
        Sizes of the fsaverage family (``space="surface"``).
    """

    name: str
    shapes: tuple
    sessions: tuple
    trials: int
    n_assembly: int
    n_partial: int
    n_twice: int
    region_fractions: dict
    n_latent: int
    n_features: int
    feature_noise: float
    region_sizes: dict | None = None
    streamed: bool = False
    surface: SurfaceSizes | None = None

    @property
    def n_subjects(self):
        """Number of subjects."""
        return len(self.shapes)

    @property
    def n_shared(self):
        """Number of shared images (all three groups)."""
        return self.n_assembly + self.n_partial + self.n_twice

    @property
    def n_trials_total(self):
        """Length of the master ordering: the longest subject's trials."""
        return max(self.sessions) * self.trials


_TINY = Preset(
    name="tiny",
    shapes=((14, 16, 12), (15, 14, 13)),
    sessions=(4, 3),
    trials=72,
    n_assembly=48,
    n_partial=10,
    n_twice=6,
    region_fractions={"V1": 0.045, "V2": 0.045, "V4": 0.03, "IT": 0.12},
    n_latent=8,
    n_features=100,
    feature_noise=5.5,
    surface=SurfaceSizes(
        n_vertices=642,  # fsaverage3
        sizes={
            "lh": {"V1": 30, "V2": 26, "V3": 24, "V4": 10, "IT": 58, "nsdgeneral": 190},
            "rh": {"V1": 27, "V2": 29, "V3": 22, "V4": 12, "IT": 52, "nsdgeneral": 181},
        },
    ),
)

_DEMO = Preset(
    name="demo",
    shapes=(
        (20, 26, 21),
        (21, 27, 21),
        (20, 27, 20),
        (21, 25, 20),
        (20, 24, 19),
        (21, 28, 21),
        (19, 24, 20),
        (20, 26, 19),
    ),
    sessions=(10, 10, 8, 7, 10, 8, 10, 7),
    trials=100,
    n_assembly=125,
    n_partial=40,
    n_twice=15,
    region_fractions={"V1": 0.03, "V2": 0.029, "V4": 0.013, "IT": 0.2},
    n_latent=8,
    n_features=200,
    feature_noise=6.5,
    surface=SurfaceSizes(
        n_vertices=2562,  # fsaverage4
        sizes={
            "lh": {"V1": 64, "V2": 50, "V3": 46, "V4": 14, "IT": 240, "nsdgeneral": 560},
            "rh": {"V1": 60, "V2": 56, "V3": 44, "V4": 18, "IT": 250, "nsdgeneral": 590},
        },
    ),
)

_FULL = Preset(
    name="full",
    shapes=((81, 104, 83),),  # subj01, NIfTI order; HDF5 (750, 83, 104, 81)
    sessions=(4,),
    trials=750,
    n_assembly=515,
    n_partial=0,
    n_twice=15,
    region_fractions=None,
    n_latent=8,
    n_features=64896,  # the V4 feature shape of the seed's benchmark run
    feature_noise=6.5,
    region_sizes={"V1": 1350, "V2": 1433, "V4": 687, "IT": 7604},  # subj01
    streamed=True,
    surface=SurfaceSizes(
        n_vertices=163842,  # fsaverage
        sizes={  # NSD_FORMATS: V1 2153 + 2123, V2 1643 + 1748, V4 410 + 504, IT 19065
            "lh": {"V1": 2153, "V2": 1643, "V3": 1510, "V4": 410, "IT": 9412, "nsdgeneral": 18862},
            "rh": {"V1": 2123, "V2": 1748, "V3": 1562, "V4": 504, "IT": 9653, "nsdgeneral": 19122},
        },
    ),
)

_PRESETS = {preset.name: preset for preset in (_TINY, _DEMO, _FULL)}

PRESETS = tuple(_PRESETS)


def get_preset(name):
    """Return the :class:`Preset` called ``name``.

    Parameters
    ----------
    name : str
        One of :data:`PRESETS`.

    Returns
    -------
    Preset
        The sizes of that dataset.

    Examples
    --------
    >>> get_preset("tiny").n_subjects
    2
    """
    if name not in _PRESETS:
        raise ParameterError("preset", f"expected one of {', '.join(PRESETS)}, got {name!r}")
    return _PRESETS[name]
