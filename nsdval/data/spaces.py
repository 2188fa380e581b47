"""The data spaces nsdval reads, and which one serves a tree.

Today every tree is read as NSD's volume files; the surface (fsaverage) space will be the
second entry.
"""

from __future__ import annotations

from nsdval.data.volume.space import VolumeSpace

SPACES = {VolumeSpace.name: VolumeSpace}


def open_space(layout):
    """The :class:`~nsdval.data.space.DataSpace` that reads a tree's raw files.

    Parameters
    ----------
    layout : NsdLayout
        Where the tree's files are.

    Returns
    -------
    DataSpace
    """
    return VolumeSpace(layout)
