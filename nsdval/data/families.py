"""The assembly families a tree holds: space (volume, surface) x variant (8, 4 subjects).

Brain-Score ships four families of NSD assemblies: ``Allen2022_fmri`` and
``Allen2022_fmri_surface``, each for 8 subjects (``_8subj``, 515 images) and for 4 subjects
(``_4subj``, 1000 images). A tree may hold any of them; a family is present when its
Brain-Score assemblies are (``brainscore/Allen2022_fmri_{train,test}_VARIANT.nc``, or
``brainscore_surface/Allen2022_fmri_surface_...`` for the surface). :func:`discover_families`
lists them and :func:`family_layout` gives each its :class:`~nsdval.data.layout.NsdLayout`.

A family has a key (``volume_8subj``, ``surface_4subj``) that names its reports: the
volume 8-subject family, the one nsdval validated first, keeps the report ids and folders it
always had (``subj01/V4``), every other family's reports sit under its key
(``surface_8subj/subj01/V4``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from nsdval.data.layout import DEFAULT_VARIANT, SPACES, detect_layout
from nsdval.errors import ParameterError

_BRAINSCORE_FILE = re.compile(r"^Allen2022_fmri(_surface)?_(?:train|test)(_[A-Za-z0-9]+)\.nc$")
_VARIANT = re.compile(r"^_?([A-Za-z0-9]+)$")
VARIANT_SUBJECTS = {"_4subj": (1, 2, 5, 7)}
"""The subjects of a variant that is not every subject of the tree (NSD_FORMATS)."""


@dataclass(frozen=True)
class Family:
    """One family of assemblies: a space and a variant (the assembly files' suffix).

    Examples
    --------
    >>> Family("surface", "_4subj").key
    'surface_4subj'
    >>> Family().prefix, Family("surface").prefix
    ('', 'surface_8subj')
    """

    space: str = "volume"
    variant: str = DEFAULT_VARIANT

    @property
    def key(self):
        """``SPACE_VARIANT``, e.g. ``volume_8subj``: the family's name in results and pages."""
        return f"{self.space}{self.variant}"

    @property
    def prefix(self):
        """Folder and id prefix of the family's reports: empty for the volume 8-subject one."""
        return "" if self == Family() else self.key

    @property
    def benchmark_name(self):
        """Brain-Score's benchmark family name, e.g. ``Allen2022_fmri_surface_4subj``."""
        space = "_surface" if self.space == "surface" else ""
        variant = "" if self.variant == DEFAULT_VARIANT else self.variant
        return f"Allen2022_fmri{space}{variant}"

    @property
    def label(self):
        """Human-readable name, e.g. ``surface, 4 subjects``."""
        count = re.fullmatch(r"_(\d+)subj", self.variant)
        variant = f"{count.group(1)} subjects" if count else self.variant.lstrip("_")
        return f"{self.space}, {variant}"


def family_of_key(key):
    """The :class:`Family` a key names; ``None`` (records before families) is the default.

    Examples
    --------
    >>> family_of_key("surface_4subj")
    Family(space='surface', variant='_4subj')
    """
    if not key:
        return Family()
    space, _, variant = str(key).partition("_")
    if space not in SPACES or not variant:
        raise ParameterError("family", f"expected SPACE_VARIANT, e.g. volume_8subj, got {key!r}")
    return Family(space, f"_{variant}")


def normalize_variant(variant):
    """A variant as the files spell it: ``4subj`` and ``_4subj`` both give ``_4subj``."""
    found = _VARIANT.match(str(variant))
    if not found:
        raise ParameterError("variant", f"expected a suffix such as _8subj, got {variant!r}")
    return f"_{found.group(1)}"


def discover_families(root, **folders):
    """The families whose Brain-Score assemblies ``root`` (or the folder overrides) holds.

    Parameters
    ----------
    root : str or Path
        The NSD root folder.
    **folders
        ``assemblies_dir``, ``brainscore_dir`` or ``benchmark_dir`` overrides.

    Returns
    -------
    list of Family
        In :func:`family_order`.
    """
    found = set()
    for space in SPACES:
        layout = detect_layout(root, space=space, **folders)
        folder = layout.brainscore_assembly("train").parent
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            match = _BRAINSCORE_FILE.match(path.name)
            if match and bool(match.group(1)) == (space == "surface"):
                found.add(Family(space, match.group(2)))
    return sorted(found, key=family_order)


def family_order(family):
    """Sort key of families: volume before surface, ``_8subj`` before other variants.

    Examples
    --------
    >>> sorted([Family("surface"), Family("volume", "_4subj"), Family()], key=family_order)[0]
    Family(space='volume', variant='_8subj')
    """
    space = SPACES.index(family.space) if family.space in SPACES else len(SPACES)
    return (space, family.space, family.variant != DEFAULT_VARIANT, family.variant)


def choose_families(found, *, spaces=None, variants=None):
    """The families of ``found`` that the filters keep (``None``: every one).

    With nothing found, the volume 8-subject family (filtered the same way) is returned so
    that the run names the first file it misses.

    Raises
    ------
    ParameterError
        A filter names no space nsdval knows.
    """
    variants = None if variants is None else {normalize_variant(v) for v in variants}
    for space in spaces or ():
        if space not in SPACES:
            raise ParameterError("space", f"expected one of {', '.join(SPACES)}, got {space!r}")
    if not found:
        space = spaces[0] if spaces else "volume"
        variant = sorted(variants)[0] if variants else DEFAULT_VARIANT
        return [Family(space, variant)]
    chosen = [
        f
        for f in found
        if (spaces is None or f.space in spaces) and (variants is None or f.variant in variants)
    ]
    if chosen:
        return chosen
    # asked for a family the tree does not hold: plan it, so the run names what is missing
    spaces = spaces or sorted({f.space for f in found}, key=SPACES.index)
    variants = sorted(variants or {f.variant for f in found})
    return [Family(space, variant) for space in spaces for variant in variants]


def family_subjects(family, found):
    """The subjects of ``family`` among those of a tree, plus any the family misses.

    The 8-subject family is every subject with betas (a subject the assemblies left out is
    a defect its report shows); the 4-subject family is subjects 1, 2, 5 and 7, whether or
    not the tree has their betas (the run names a missing folder).

    Examples
    --------
    >>> family_subjects(Family("volume", "_4subj"), [1, 2, 3, 4, 5, 6, 7, 8])
    [1, 2, 5, 7]
    >>> family_subjects(Family(), [1, 3])
    [1, 3]
    """
    fixed = VARIANT_SUBJECTS.get(family.variant)
    return list(found) if fixed is None else list(fixed)


def family_layout(root, family, **folders):
    """The :class:`~nsdval.data.layout.NsdLayout` of one family of ``root``."""
    return detect_layout(Path(root), family.variant, space=family.space, **folders)
