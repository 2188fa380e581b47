"""Synthetic fsaverage files: the shared label files and NSD's MGH betas.

NSD's surface data live on fsaverage, the same vertices for every subject; so do its label
files (``{lh,rh}.Kastner2015.mgz``, ``{lh,rh}.streams.mgz``, ``{lh,rh}.nsdgeneral.mgz``, each
with a FreeSurfer colour table ``NAME.mgz.ctab``). The synthetic labels scatter every region
over the vertex indexes (as fsaverage's icosahedral numbering does), so a vertex index that
is off by one, or taken from the other hemisphere, lands outside the region.

MGH files are written as nibabel writes them: big-endian, Fortran order, so one trial's
vertices are contiguous on disk. :func:`stream_mgh` writes the same bytes block by block,
for files too large to hold in memory.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np

LABEL_FILES = ("Kastner2015", "streams", "nsdgeneral")
# the Wang et al. (2015) atlas as NSD labels it, 0 = unlabelled
KASTNER_NAMES = (
    "Unknown", "V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4", "VO1", "VO2", "PHC1", "PHC2",
    "TO2", "TO1", "LO2", "LO1", "V3B", "V3A", "IPS0", "IPS1", "IPS2", "IPS3", "IPS4", "IPS5",
    "SPL1", "FEF",
)  # fmt: skip
STREAMS_NAMES = (
    "Unknown", "early", "midventral", "midlateral", "midparietal", "ventral", "lateral",
    "parietal",
)  # fmt: skip
NSDGENERAL_NAMES = ("Unknown", "nsdgeneral")
CTAB_NAMES = {
    "Kastner2015": KASTNER_NAMES,
    "streams": STREAMS_NAMES,
    "nsdgeneral": NSDGENERAL_NAMES,
}
KASTNER_OF = {"V1": (1, 2), "V2": (3, 4), "V3": (5, 6), "V4": (7,)}
IT_STREAM = 5
# Kastner labels beyond hV4: VO and PHC overlap the ventral stream, the rest lie outside it
VENTRAL_KASTNER = (8, 9, 10, 11)
OUTER_KASTNER = tuple(range(12, 26))
OUTER_SHARE = 0.3  # size of each outer Kastner label, relative to V1
AFFINE = np.eye(4)


def make_labels(n_vertices, sizes, rng):
    """Draw one hemisphere's label arrays.

    Parameters
    ----------
    n_vertices : int
        Vertices of the hemisphere.
    sizes : dict
        Vertex counts of V1, V2, V3, V4, IT and nsdgeneral.
    rng : numpy.random.Generator
        Scatters the regions over the vertex indexes.

    Returns
    -------
    dict of str to (n_vertices,) int array
        ``Kastner2015``, ``streams`` and ``nsdgeneral`` labels (0 = unlabelled).

    Examples
    --------
    >>> sizes = {"V1": 6, "V2": 5, "V3": 5, "V4": 3, "IT": 9, "nsdgeneral": 40}
    >>> labels = make_labels(162, sizes, np.random.default_rng(0))
    >>> int(np.isin(labels["Kastner2015"], (1, 2)).sum()), int((labels["streams"] == 5).sum())
    (6, 9)
    """
    order = rng.permutation(n_vertices)
    kastner = np.zeros(n_vertices, dtype=np.int64)
    streams = np.zeros(n_vertices, dtype=np.int64)
    start = 0
    for region in ("V1", "V2", "V3", "V4"):
        chunk = order[start : start + sizes[region]]
        labels = KASTNER_OF[region]
        kastner[chunk] = (
            labels[0]
            if len(labels) == 1
            else np.where(np.arange(chunk.size) < chunk.size // 2, labels[0], labels[1])
        )
        streams[chunk] = 2 if region == "V4" else 1
        start += chunk.size
    it = order[start : start + sizes["IT"]]
    streams[it] = IT_STREAM
    ventral = it[: it.size // 4]
    kastner[ventral] = np.resize(VENTRAL_KASTNER, ventral.size)
    start += it.size
    n_outer = max(2, round(OUTER_SHARE * sizes["V1"]))
    for position, label in enumerate(OUTER_KASTNER):
        chunk = order[start : start + n_outer]
        kastner[chunk] = label
        lateral = label < 18  # TO, LO, V3B, V3A; then IPS, SPL, FEF
        streams[chunk] = (3 if lateral else 4) + 3 * (position % 2)
        start += chunk.size
    if start > n_vertices:
        raise RuntimeError("synthetic hemisphere too small for the requested region sizes")
    general = np.zeros(n_vertices, dtype=np.int64)
    general[order[: sizes["nsdgeneral"]]] = 1
    return {"Kastner2015": kastner, "streams": streams, "nsdgeneral": general}


def region_vertices(labels, region, kastner=None):
    """Return the ascending vertex indexes of a Brain-Score region in one hemisphere.

    Parameters
    ----------
    labels : dict
        One hemisphere's label arrays (see :func:`make_labels`).
    region : str
        V1, V2, V4 or IT.
    kastner : tuple of int or None
        Kastner2015 labels to use instead of the region's own (a fault hook).

    Examples
    --------
    >>> labels = {"Kastner2015": np.array([0, 3, 1, 4]), "streams": np.array([5, 0, 0, 5])}
    >>> region_vertices(labels, "V2").tolist(), region_vertices(labels, "IT").tolist()
    ([1, 3], [0, 3])
    """
    if region == "IT":
        return np.flatnonzero(labels["streams"] == IT_STREAM)
    return np.flatnonzero(np.isin(labels["Kastner2015"], kastner or KASTNER_OF[region]))


def ctab_text(names):
    """Return a FreeSurfer colour table: ``index name R G B A`` per label.

    Examples
    --------
    >>> print(ctab_text(("Unknown", "nsdgeneral")), end="")
      0  Unknown                     0   0   0   0
      1  nsdgeneral                190   2 153   0
    """
    lines = []
    for index, name in enumerate(names):
        red, green, blue = (0, 0, 0) if index == 0 else _colour(index)
        lines.append(f"{index:3d}  {name:<25s} {red:3d} {green:3d} {blue:3d}   0")
    return "\n".join(lines) + "\n"


def _colour(index):
    """A fixed colour per label index."""
    hue = (index * 0.137) % 1.0
    shifts = (0.0, 1 / 3, 2 / 3)
    return tuple(int(round(229.5 * (0.5 + 0.5 * np.cos(2 * np.pi * (hue + s))))) for s in shifts)


def write_labels(folder, labels):
    """Write ``{lh,rh}.NAME.mgz`` and ``NAME.mgz.ctab`` for every label file.

    Parameters
    ----------
    folder : pathlib.Path
        Target folder (``fsaverage_labels`` in the packaging layout).
    labels : dict
        ``{"lh": {...}, "rh": {...}}`` from :func:`make_labels`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name in LABEL_FILES:
        for hemi, hemi_labels in labels.items():
            write_mgh(folder / f"{hemi}.{name}.mgz", hemi_labels[name][:, None, None])
        (folder / f"{name}.mgz.ctab").write_text(ctab_text(CTAB_NAMES[name]))


def write_mgh(path, data):
    """Write an array as a float32 MGH (or gzipped ``.mgz``) file, as NSD stores them.

    Parameters
    ----------
    path : pathlib.Path
        Target file.
    data : array, 3 or 4 dims
        ``(n_vertices, 1, 1)`` or ``(n_vertices, 1, 1, n_frames)``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.MGHImage(np.asarray(data, dtype=np.float32), AFFINE), path)


def stream_mgh(path, n_vertices, n_frames, blocks):
    """Write a ``(n_vertices, 1, 1, n_frames)`` float32 MGH file from blocks of frames.

    The bytes are those :func:`write_mgh` writes for the whole array, without holding it.

    Parameters
    ----------
    path : pathlib.Path
        Target ``.mgh`` file (uncompressed).
    n_vertices, n_frames : int
        Data shape.
    blocks : iterable of (k, n_vertices) float arrays
        Consecutive frames (trials), ``n_frames`` in all.
    """
    shape = (n_vertices, 1, 1, n_frames)
    image = nib.MGHImage(np.broadcast_to(np.float32(0), shape), AFFINE)
    image.update_header()
    header = image.header
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("wb") as handle:
        header.writehdr_to(handle)
        handle.seek(header.get_data_offset())
        for block in blocks:
            block = np.asarray(block, dtype=">f4").reshape(-1, n_vertices)
            handle.write(block.tobytes())
            written += block.shape[0]
        header.writeftr_to(handle)
    if written != n_frames:
        raise RuntimeError(f"{path}: {written} frames written, expected {n_frames}")
