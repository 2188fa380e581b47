"""NSD's fsaverage surface files as a :class:`~nsdval.data.space.DataSpace`.

A unit is a vertex, ``(hemisphere, vertex_index)`` with hemisphere 0 for lh and 1 for rh,
which the assemblies call ``hemisphere`` ('lh'/'rh') and ``vertex_index``; a subject's vertices
of a region are listed lh first, then rh, each ascending. The regions come from fsaverage label
files shared by every subject. A session is two MGH files, one per hemisphere, of float32
percent signal change (no scaling); values may be NaN. The ``{lh,rh}.nsdgeneral.mgz`` labels,
when the tree has them, are the mask of NSD's published noise ceiling.
"""

from __future__ import annotations

import numpy as np

from nsdval.data import sessions as session_checks
from nsdval.data.space import DataSpace, neuroid_blocks
from nsdval.data.surface import labels, mgh
from nsdval.errors import InputError

HEMISPHERES = mgh.HEMISPHERES


class SurfaceSpace(DataSpace):
    """NSD's fsaverage files of one tree (see :class:`~nsdval.data.space.DataSpace`).

    Parameters
    ----------
    layout : NsdLayout
        Where the tree's files are.
    """

    name = "surface"
    unit = "vertex"
    unit_coords = ("hemisphere", "vertex_index")
    stored_dtype = np.dtype(np.float32)
    psc_divisor = 1.0  # already percent signal change
    betas_hold_nan = True
    sessions_described = "{lh,rh}.betas_sessionNN.mgh files"
    ncsnr_described = "{lh,rh}.ncsnr.mgh"
    neuroid_major = "region"
    region_assemblies_hold_shared = True

    def __init__(self, layout):
        super().__init__(layout)
        self._shapes = {}
        self._nsdgeneral = {}

    # --- sessions ---------------------------------------------------------------------
    def betas_dir(self, subject):
        """The subject's fsaverage betas folder of the layout."""
        return self.layout.surface_betas_dir(subject)

    def sessions(self, subject):
        """Numbers of the sessions with a betas file of either hemisphere."""
        return self.layout.surface_sessions(subject)

    def session_paths(self, subject, session):
        """The session's lh and rh MGH files."""
        return [self.layout.surface_betas(subject, session, h) for h in HEMISPHERES]

    def session_shapes(self, subject):
        """``{hemisphere: (vertices, 1, 1, trials)}`` of the first session, read once."""
        if subject not in self._shapes:
            first = session_checks.session_files(self, subject)[0]
            paths = self.session_paths(subject, first)
            self._shapes[subject] = {
                h: mgh.mgh_header(p, "surface betas file")[0]
                for h, p in zip(HEMISPHERES, paths, strict=True)
            }
        return self._shapes[subject]

    def trials_per_session(self, subject):
        """Frames of the first session's lh file."""
        return self.session_shapes(subject)["lh"][3]

    # --- units and their values ---------------------------------------------------------
    def region_units(self, subject, region):
        """The region's vertices from the fsaverage labels: lh then rh, ascending."""
        blocks = []
        for index, hemi in enumerate(HEMISPHERES):
            path = self.layout.fsaverage_label(hemi, labels.label_name(region))
            n_labels = labels.load_labels(path).size
            n_vertices = self.session_shapes(subject)[hemi][0]
            if n_labels != n_vertices:
                raise InputError(
                    path, f"{n_labels} labels, the {hemi} betas hold {n_vertices} vertices"
                )
            vertices = labels.region_vertices(path, region)
            blocks.append(np.column_stack([np.full(vertices.size, index), vertices]))
        units = np.concatenate(blocks).astype(np.int64)
        if units.size == 0:
            raise InputError(self.layout.fsaverage_label_dir(), f"no vertex of region {region}")
        return units

    def reads_units_separately(self, subject):
        """True: a read costs the pages holding the wanted vertices of each trial."""
        return True

    def read_stored(self, subject, session, units, *, digest_for=None):
        """The session's float32 betas at some vertices; both hemispheres as the first's."""
        units = np.asarray(units, dtype=np.int64).reshape(-1, 2)
        out = np.empty((self.trials_per_session(subject), len(units)), dtype=np.float32)
        for index, (hemi, path) in enumerate(
            zip(HEMISPHERES, self.session_paths(subject, session), strict=True)
        ):
            mine = np.flatnonzero(units[:, 0] == index)
            if not mine.size:
                continue
            digest = digest_for(path) if digest_for else None
            expected = self.session_shapes(subject)[hemi]
            if mine[-1] - mine[0] + 1 == mine.size:  # one run of columns (lh, then rh)
                target = out[:, mine[0] : mine[-1] + 1]
                mgh.read_vertices(
                    path, units[mine, 1], digest=digest, expected=expected, out=target
                )
            else:
                out[:, mine] = mgh.read_vertices(
                    path, units[mine, 1], digest=digest, expected=expected
                )
        return out

    def ncsnr_path(self, subject):
        """``lh.ncsnr.mgh`` beside the betas (its ``rh`` twin goes with it)."""
        return self.layout.surface_ncsnr(subject, "lh")

    def read_ncsnr(self, subject, units):
        """NSD's ncsnr at some vertices, or ``None`` when neither hemisphere's file exists."""
        paths = [self.layout.surface_ncsnr(subject, h) for h in HEMISPHERES]
        if not any(p.is_file() for p in paths):
            return None
        units = np.asarray(units, dtype=np.int64).reshape(-1, 2)
        out = np.empty(len(units))
        for index, path in enumerate(paths):
            mine = units[:, 0] == index
            values = mgh.read_vertices(path, units[mine, 1], what="ncsnr file")
            out[mine] = values[0]
        return out

    # --- NSD's published noise ceiling ----------------------------------------------------
    def nsdgeneral_missing(self):
        """None when either ``{lh,rh}.nsdgeneral.mgz`` exists (a lone one fails to read)."""
        if any(self.layout.fsaverage_label(h, labels.NSDGENERAL).is_file() for h in HEMISPHERES):
            return None
        return f"no {{lh,rh}}.{labels.NSDGENERAL}.mgz in {self.layout.fsaverage_label_dir()}"

    def nsdgeneral_ncsnr(self, subject):
        """The ncsnr at the vertices labelled ``nsdgeneral`` > 0: lh then rh, ascending.

        Reads the two ncsnr files at those vertices only; ``None`` when the subject has
        neither. A label file that does not hold one value per vertex of the ncsnr file
        is an :class:`~nsdval.errors.InputError`.
        """
        paths = [self.layout.surface_ncsnr(subject, h) for h in HEMISPHERES]
        if not any(p.is_file() for p in paths):
            return None
        blocks = []
        for hemi, path in zip(HEMISPHERES, paths, strict=True):
            label_path = self.layout.fsaverage_label(hemi, labels.NSDGENERAL)
            if hemi not in self._nsdgeneral:
                self._nsdgeneral[hemi] = labels.nsdgeneral_mask(label_path)
            mask = self._nsdgeneral[hemi]
            n_vertices = mgh.mgh_header(path, "ncsnr file")[0][0]
            if mask.size != n_vertices:
                raise InputError(
                    label_path, f"{mask.size} labels, {path.name} holds {n_vertices} vertices"
                )
            blocks.append(mgh.read_vertices(path, np.flatnonzero(mask), what="ncsnr file")[0])
        return np.concatenate(blocks).astype(np.float64)

    # --- identity in the assemblies ------------------------------------------------------
    def assembly_units(self, neuroids):
        """``(hemisphere index, vertex_index)`` per neuroid; an unknown hemisphere is -1."""
        hemis = np.asarray(neuroids["hemisphere"].values).astype(str)
        index = np.select([hemis == h for h in HEMISPHERES], range(len(HEMISPHERES)), -1)
        vertices = np.asarray(neuroids["vertex_index"].values).astype(np.int64)
        return np.column_stack([index, vertices]).astype(np.int64).reshape(-1, 2)

    def expected_neuroid_ids(self, neuroids):
        """``subjSS_HEMI_REGION_vIIIII``, counting within (subject, region) across hemispheres."""
        subjects, regions, counter = neuroid_blocks(neuroids)
        hemis = np.asarray(neuroids["hemisphere"].values).astype(str)
        return np.array(
            [
                f"{s}_{h}_{r}_v{i:05d}"
                for s, h, r, i in zip(subjects, hemis, regions, counter, strict=True)
            ]
        )

    def unit_label(self, row):
        """``lh 1234``."""
        hemi, vertex = (int(v) for v in row)
        name = HEMISPHERES[hemi] if 0 <= hemi < len(HEMISPHERES) else "?"
        return f"{name} {vertex}"

    # --- pre-flight ------------------------------------------------------------------------
    def check_subject(self, subject, regions):
        """Both hemispheres of every session, the label files of each region, the ncsnr."""
        numbers = session_checks.check_session_numbers(self, subject)
        expected = self.session_shapes(subject)
        for session in numbers:
            for hemi, path in zip(HEMISPHERES, self.session_paths(subject, session), strict=True):
                shape = mgh.mgh_header(path, "surface betas file")[0]
                if shape != expected[hemi]:
                    first = expected[hemi]
                    raise InputError(path, f"shape {shape} differs from session 1's {first}")
        for region in regions:
            self.region_units(subject, region)
        for hemi in HEMISPHERES:
            path = self.layout.surface_ncsnr(subject, hemi)
            if path.is_file():
                shape = mgh.mgh_header(path, "ncsnr file")[0]
                if shape[0] != expected[hemi][0]:
                    raise InputError(
                        path, f"{shape[0]} vertices, the betas hold {expected[hemi][0]}"
                    )
        return self.trials_per_session(subject)

    def subject_inputs(self, subject):
        """The session files of both hemispheres and the label files."""
        files = [p for s in self.sessions(subject) for p in self.session_paths(subject, s)]
        folder = self.layout.fsaverage_label_dir()
        found = sorted(folder.iterdir()) if folder.is_dir() else []
        return files + [p for p in found if p.name.endswith(".mgz")]
