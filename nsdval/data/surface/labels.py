"""Brain-Score's regions on the fsaverage label files shared by every subject.

V1, V2 and V4 are labels of ``{lh,rh}.Kastner2015`` (the Wang 2015 group atlas), IT is
``{lh,rh}.streams`` == 5. A region's vertices are listed lh first, then rh, each in
ascending vertex index: the order the surface assemblies list a subject's neuroids in.
``{lh,rh}.nsdgeneral`` > 0 is NSD's general visual mask, over which NSD publishes its noise
ceiling. This is the only place that opens an fsaverage label file.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from nsdval.data import watched
from nsdval.data.layout import check_region
from nsdval.errors import InputError, MissingInputError

KASTNER_LABELS = {"V1": (1, 2), "V2": (3, 4), "V4": (7,)}
STREAMS_LABELS = {"IT": (5,)}
NSDGENERAL = "nsdgeneral"


def label_name(region):
    """The label file (without hemisphere) that defines a region."""
    return "Kastner2015" if check_region(region) in KASTNER_LABELS else "streams"


def region_labels(region):
    """The label values that make up a region."""
    return {**KASTNER_LABELS, **STREAMS_LABELS}[check_region(region)]


def load_labels(path):
    """One hemisphere's labels, one integer per vertex.

    Raises
    ------
    MissingInputError, InputError
        The file is absent, unreadable, not one value per vertex, or not integer.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, "fsaverage label file")
    watched.heartbeat(path)
    try:
        data = np.asarray(nib.load(path).get_fdata(dtype=np.float64))
    except Exception as exc:  # nibabel raises several types for unreadable files
        raise InputError(path, f"not a readable MGH/MGZ label file ({exc})") from None
    if data.ndim == 0 or data.size != data.shape[0]:
        raise InputError(path, f"expected one label per vertex, found shape {data.shape}")
    data = data.reshape(-1)
    if not np.all(np.isfinite(data)) or np.any(data != np.round(data)):
        raise InputError(path, "label file holds non-integer values")
    return data.astype(np.int32)


def region_vertices(label_path, region):
    """Vertex indexes of a region in one hemisphere's label file, ascending."""
    labels = load_labels(label_path)
    return np.flatnonzero(np.isin(labels, region_labels(region))).astype(np.int64)


def nsdgeneral_mask(label_path):
    """One hemisphere's ``nsdgeneral`` mask: True where the label is positive."""
    return load_labels(label_path) > 0
