"""The seam between NSD's raw files and everything that checks them: a data space.

A data space answers, for one tree, every question the chain and the checks ask of the
raw files, and nothing else opens them or knows an axis order:

- which **units** (voxels of a volume, vertices of a surface) make up a subject's region,
  as an integer array with one row of coordinates per unit, in the order the assemblies
  list that subject's neuroids;
- the **betas** of those units, one session at a time, as stored, and their conversion to
  percent signal change;
- their **ncsnr**, NSD's noise-ceiling SNR, when the tree ships it, and the ncsnr over the
  mask NSD's published noise ceiling is a median of (fsaverage ``nsdgeneral``), in a space
  that has that mask;
- how the assemblies **identify** a unit (the neuroid coordinates behind each row);
- the **pre-flight** of the subject's raw files: readable, consistent, fitting each other.

:class:`DataSpace` is that interface; :mod:`nsdval.data.volume` is its implementation for
NSD's volume (func1pt8mm) files, and :func:`nsdval.data.spaces.open_space` picks the one
a tree needs.
"""

from __future__ import annotations

import abc

import numpy as np


def psc_from_stored(stored, divisor):
    """Stored betas as float32 percent signal change: ``float32(stored) / float32(divisor)``.

    The one conversion every reader of stored betas uses (a data space's :meth:`~DataSpace.psc`
    and the session z-scores an extraction recomputes), so they agree to the bit.

    Examples
    --------
    >>> psc_from_stored(np.array([300, -150], dtype=np.int16), 300).tolist()
    [1.0, -0.5]
    """
    return np.asarray(stored).astype(np.float32) / np.float32(divisor)


class DataSpace(abc.ABC):
    """What the chain and the checks read from one tree's raw files.

    Attributes
    ----------
    name : str
        The space, e.g. ``volume``.
    unit : str
        What a neuroid is in this space, e.g. ``voxel``.
    unit_coords : tuple of str
        The assemblies' neuroid coordinates that identify a unit within a subject, in the
        order of the columns of :meth:`region_units`.
    stored_dtype : numpy.dtype
        The dtype betas are stored in (:meth:`read_stored`).
    psc_divisor : float
        Stored betas / this, in float32, are percent signal change (:meth:`psc`).
    betas_hold_nan : bool
        The stored betas may be NaN (NSD's surface files). The packaging's rules for such a
        space follow: ncsnr over each unit's complete images, repetitions averaged and
        standardized NaN-aware, NaN written as 0, ``nc_testset`` NaN kept.
    sessions_described : str
        How a subject's session files are named, for messages.
    ncsnr_described : str
        How a subject's ncsnr file is named, for messages.
    region_assemblies_hold_shared : bool
        The region assemblies hold every shared image (surface), not only those shown three
        times to every subject (volume).
    neuroid_major : {'subject', 'region'}
        The outer key of the assemblies' neuroid order (volume subject-major, surface
        region-major).
    layout : NsdLayout
        Where the tree's files are.
    """

    name: str
    unit: str
    unit_coords: tuple
    stored_dtype: np.dtype
    betas_hold_nan: bool
    sessions_described: str
    ncsnr_described: str
    neuroid_major: str
    region_assemblies_hold_shared: bool

    def __init__(self, layout):
        self.layout = layout

    def __repr__(self):
        return f"{type(self).__name__}({self.layout.root}, {self.layout.kind})"

    # --- sessions ---------------------------------------------------------------------
    @abc.abstractmethod
    def betas_dir(self, subject):
        """The folder of a subject's betas (named when none is found)."""

    @abc.abstractmethod
    def sessions(self, subject):
        """Session numbers of a subject's betas files on disk, sorted."""

    @abc.abstractmethod
    def session_paths(self, subject, session):
        """The files of one session (existing or not), the first named in messages."""

    @abc.abstractmethod
    def trials_per_session(self, subject):
        """Trials of one session, read from the first session's header."""

    # --- units and their values ---------------------------------------------------------
    @abc.abstractmethod
    def region_units(self, subject, region):
        """The units of a subject's region: ``(n_units, len(unit_coords))`` int64."""

    @abc.abstractmethod
    def reads_units_separately(self, subject):
        """True when reading some units costs only their bytes (not the whole session)."""

    @abc.abstractmethod
    def read_stored(self, subject, session, units, *, digest_for=None):
        """One session's betas of some units as stored: ``(n_trials, n_units)``.

        ``digest_for(path)`` returns a hash object updated with the bytes read from
        ``path``, or is ``None``.
        """

    def psc(self, stored):
        """Stored betas as float32 percent signal change (:func:`psc_from_stored`)."""
        return psc_from_stored(stored, self.psc_divisor)

    @abc.abstractmethod
    def ncsnr_path(self, subject):
        """Where a subject's ncsnr file is (or would be)."""

    @abc.abstractmethod
    def read_ncsnr(self, subject, units):
        """NSD's ncsnr of some units (float64), or ``None`` when the tree has none."""

    # --- NSD's published noise ceiling ----------------------------------------------------
    def nsdgeneral_missing(self):
        """Why this tree has no ``nsdgeneral`` mask to check NSD's published ceiling on, or None.

        NSD publishes its noise ceiling as a median over the fsaverage ``nsdgeneral``
        vertices; a space without that mask says so here (the default), and
        :meth:`nsdgeneral_ncsnr` is then never asked.
        """
        return f"the {self.name} space has no fsaverage nsdgeneral mask (a surface statistic)"

    def nsdgeneral_ncsnr(self, subject):
        """NSD's ncsnr of a subject over the ``nsdgeneral`` mask (float64), or ``None``.

        ``None`` when the subject has no ncsnr file. Only asked when
        :meth:`nsdgeneral_missing` is ``None``.
        """
        raise NotImplementedError(self.nsdgeneral_missing())

    # --- identity in the assemblies ------------------------------------------------------
    def assembly_units(self, neuroids):
        """The unit coordinates of an assembly's neuroids, one row per neuroid (int64).

        Parameters
        ----------
        neuroids : xarray.DataArray
            An assembly (block) holding the :attr:`unit_coords` coordinates.
        """
        columns = [np.asarray(neuroids[c].values) for c in self.unit_coords]
        return np.column_stack(columns).astype(np.int64).reshape(-1, len(self.unit_coords))

    def expected_neuroid_ids(self, neuroids):
        """The ``neuroid_id`` each neuroid should carry, from its subject, region and unit.

        ``subjSS_REGION_vIIII``, counting within each (subject, region) block; a space
        whose ids say more overrides it.
        """
        subjects, regions, counter = neuroid_blocks(neuroids)
        return np.array(
            [f"{s}_{r}_v{i:04d}" for s, r, i in zip(subjects, regions, counter, strict=True)]
        )

    def unit_label(self, row):
        """A unit's coordinates as text, e.g. ``(12, 40, 33)``."""
        return "({})".format(", ".join(str(int(v)) for v in row))

    # --- pre-flight ------------------------------------------------------------------------
    @abc.abstractmethod
    def check_subject(self, subject, regions):
        """Raise for the first raw file of a subject the chain could not read or align.

        Returns
        -------
        int
            Trials per session.
        """

    @abc.abstractmethod
    def subject_inputs(self, subject):
        """Every file a subject's extraction reads (the key of its cache)."""


def neuroid_blocks(neuroids):
    """Subjects, regions and each neuroid's position within its (subject, region) block.

    Examples
    --------
    >>> import xarray as xr
    >>> a = xr.DataArray([0, 0, 0], dims="neuroid", coords={
    ...     "subject": ("neuroid", ["s1", "s1", "s2"]), "region": ("neuroid", ["V1"] * 3)})
    >>> neuroid_blocks(a)[2].tolist()
    [0, 1, 0]
    """
    subjects = np.asarray(neuroids["subject"].values).astype(str)
    regions = np.asarray(neuroids["region"].values).astype(str)
    keys = np.char.add(np.char.add(subjects, "\0"), regions)
    counter = np.zeros(keys.size, dtype=np.int64)
    for key in np.unique(keys):
        where = np.flatnonzero(keys == key)
        counter[where] = np.arange(where.size)
    return subjects, regions, counter
