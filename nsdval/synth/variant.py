"""The 4-subject variant (``_4subj``) of the packaged files: image set, split, faults.

Written after NSD_FORMATS ("The 4-subject variant"), apart from the validation code:

- subjects 1, 2, 5 and 7 (0-based indexes 0, 1, 4, 6), so only presets with at least 7
  subjects (``demo``) have the variant; ``tiny`` (2 subjects) and ``full`` do not;
- the images are the shared images shown exactly 3 times to each of these four subjects
  within its own sessions (on ``demo`` the assembly images plus the partial ones, whose
  third showing falls after the 7- and 8-session subjects' last session);
- the split follows the 8-subject rule on the 4-subject list (nsd_id-sorted,
  ``RandomState(42).shuffle``, first int(0.8 N) train, both sorted), independent of the
  8-subject split; the global z-score uses all the 4-subject images; ``nc_testset`` is the
  voxel's (vertex's) 8-subject value, from the same ncsnr.

Files carry ``_4subj`` in place of ``_8subj``; the benchmark files go to
``benchmark_4subj/REGION/`` and ``benchmark_surface_4subj/REGION/`` (same names as
``benchmark/REGION/``), with ``Allen2022_fmri_4subj.REGION-ridge|rdm`` and
``Allen2022_fmri_surface_4subj.REGION-ridge|rdm`` as benchmark names.

Only the faults of :data:`FAULTS` are planted in the 4-subject packaging hooks; a volume or
surface fault is planted in the 8-subject files, and reaches the 4-subject values only when
it acts on what both share (the preprocessing chain, the region columns).
"""

from __future__ import annotations

import numpy as np

from nsdval.errors import ParameterError

VARIANTS = ("8subj", "4subj")
SUBJECTS = (0, 1, 4, 6)
SUFFIX = "_4subj"
SPLIT_SEED = 42
FAULTS = {
    "4subj-8subj-split": "4-subject files: the 8-subject split reused (its test images stay "
    "test, every other 4-subject image is train)",
    "4subj-515-images": "4-subject files: only the 8-subject images kept (shown 3 times to all "
    "8 subjects) instead of those shown 3 times to subjects 1, 2, 5 and 7",
    "4subj-global-z-train-only": "4-subject Brain-Score values: global z-score statistics over "
    "the train images only",
}


def parse_variants(variant):
    """Return the variants a ``variant`` argument names, in canonical order.

    Examples
    --------
    >>> parse_variants("8subj"), parse_variants("both"), parse_variants("_4subj")
    (('8subj',), ('8subj', '4subj'), ('4subj',))
    """
    names = variant.split(",") if isinstance(variant, str) else list(variant)
    names = [name.strip().lstrip("_") for name in names]
    if names in (["both"], ["all"]):
        names = list(VARIANTS)
    if not names or any(name not in VARIANTS for name in names):
        raise ParameterError("variant", f"expected 8subj, 4subj or both, got {variant!r}")
    return tuple(name for name in VARIANTS if name in names)


def check_preset(sizes, variants):
    """Raise :class:`ParameterError` when the preset cannot hold the requested variants."""
    if "4subj" not in variants:
        return
    if sizes.streamed or sizes.n_subjects <= max(SUBJECTS):
        raise ParameterError(
            "variant",
            f"the 4-subject variant needs subjects 1, 2, 5 and 7 and packaged outputs; the "
            f"{sizes.name} preset has {sizes.n_subjects} subject(s) (use --preset demo)",
        )


def fault_of(fault):
    """Return ``fault`` if it is a 4-subject fault, else ``None`` (for the 4-subject hooks)."""
    return fault if fault in FAULTS else None


def image_ids(design, fault=None):
    """Return the sorted 0-based NSD ids of the 4-subject images.

    The shared images shown exactly 3 times to each of :data:`SUBJECTS` within its own
    sessions; with ``4subj-515-images`` the 8-subject images instead.
    """
    if fault == "4subj-515-images":
        return design.assembly_ids()
    common = np.sort(design.sharedix - 1)
    for subject in SUBJECTS:
        ids, counts = np.unique(design.trial_nsd_ids(subject), return_counts=True)
        common = np.intersect1d(common, ids[counts == 3])
    return common


def trial_index(design, ids):
    """Return the (n_images, 3) chronological trials of each image of ``ids``.

    The master ordering is common, so the trials are the same for every subject; they are
    taken from the subject of :data:`SUBJECTS` with the fewest sessions.
    """
    shortest = min(SUBJECTS, key=lambda subject: design.sessions[subject])
    trial_ids = design.trial_nsd_ids(shortest)
    return np.stack([np.flatnonzero(trial_ids == nsd_id) for nsd_id in ids])


def split_rows(ids, ids8, rows8, make_split, fault=None):
    """Return the sorted train and test rows of the 4-subject images ``ids``.

    Parameters
    ----------
    ids : (n,) int array
        Sorted 4-subject image ids.
    ids8, rows8 : array and tuple of arrays
        The 8-subject images and their split rows (used by ``4subj-8subj-split`` only).
    make_split : callable
        ``make_split(n_images, seed)`` of the packager.
    fault : str or None
        Active fault.
    """
    if fault == "4subj-8subj-split":
        is_test = np.isin(ids, ids8[rows8[1]])
        return np.flatnonzero(~is_test), np.flatnonzero(is_test)
    return make_split(ids.size, SPLIT_SEED)


def subject_label(index):
    """Return ``subjSS`` of a 0-based subject index.

    Examples
    --------
    >>> subject_label(4)
    'subj05'
    """
    return f"subj{index + 1:02d}"


def chosen(blocks):
    """Return the blocks of the four subjects, in their order."""
    labels = {subject_label(index) for index in SUBJECTS}
    return [block for block in blocks if block.subject in labels]
