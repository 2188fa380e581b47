"""The data spaces nsdval reads, and which one serves a tree's assemblies."""

from __future__ import annotations

from nsdval.data.surface.space import SurfaceSpace
from nsdval.data.volume.space import VolumeSpace

SPACES = {VolumeSpace.name: VolumeSpace, SurfaceSpace.name: SurfaceSpace}


def open_space(layout):
    """The :class:`~nsdval.data.space.DataSpace` that reads a tree's raw files.

    Parameters
    ----------
    layout : NsdLayout
        Where the tree's files are; its ``space`` names the assemblies under validation.

    Returns
    -------
    DataSpace
    """
    return SPACES[layout.space](layout)
