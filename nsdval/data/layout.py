"""Every path nsdval reads: (root, subject, session, region) -> file.

Two NSD layouts are supported and told apart from the root folder:

``packaging``
    The layout of the Brain-Score packaging notebooks: ``subjSS/betas``, ``subjSS/rois``,
    ``metadata/nsd_expdesign.mat``.
``official``
    The layout of the NSD distribution: ``nsddata_betas/ppdata/subjSS/func1pt8mm/...``,
    ``nsddata/ppdata/subjSS/func1pt8mm/roi``, ``nsddata/experiments/nsd``.

Beside the NSD files, both keep the assemblies under validation in ``assemblies/`` and
``brainscore/`` and the benchmark output in ``benchmark/REGION/`` (the surface family in
``brainscore_surface/`` and ``benchmark_surface/``; a variant other than ``_8subj`` keeps its
benchmark output in ``benchmark[_surface]VARIANT/``, or in the shared folder when the tree
holds no ``_8subj`` family of that space); each folder can be moved with an explicit
override. Nothing here opens a file: :meth:`NsdLayout.validate` only checks that the
required files exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from nsdval.errors import LayoutError, MissingInputError, ParameterError

REGIONS = ("V1", "V2", "V4", "IT")
SPLITS = ("train", "test")
LAYOUTS = ("packaging", "official")
SPACES = ("volume", "surface")
DEFAULT_VARIANT = "_8subj"

_SESSION_FILE = re.compile(r"^betas_session(\d+)\.hdf5$")
_SURFACE_SESSION_FILE = re.compile(r"^(lh|rh)\.betas_session(\d+)\.mgh$")
_SUBJECT_DIR = re.compile(r"^subj(\d+)$")


def subject_label(subject):
    """Return the Brain-Score label of a subject number.

    Examples
    --------
    >>> subject_label(3)
    'subj03'
    """
    return f"subj{int(subject):02d}"


def check_region(region):
    """Return ``region`` if it is a Brain-Score region, else raise :class:`ParameterError`.

    Examples
    --------
    >>> check_region("V4")
    'V4'
    """
    if region not in REGIONS:
        raise ParameterError("region", f"expected one of {', '.join(REGIONS)}, got {region!r}")
    return region


def check_split(split):
    """Return ``split`` if it is ``train`` or ``test``, else raise :class:`ParameterError`."""
    if split not in SPLITS:
        raise ParameterError("split", f"expected one of {', '.join(SPLITS)}, got {split!r}")
    return split


@dataclass(frozen=True)
class NsdLayout:
    """Paths of one NSD tree.

    Parameters
    ----------
    root : Path
        The NSD root folder.
    kind : {'packaging', 'official'}
        Which NSD layout the tree follows.
    variant : str
        Suffix of the assembly files, ``_8subj`` for the published assemblies.
    assemblies_dir, brainscore_dir, benchmark_dir : Path or None
        Overrides for the folders of the region assemblies (and split CSV), the
        Brain-Score assemblies and the benchmark output; ``None`` means beside the NSD files.
    space : {'volume', 'surface'}
        Which assemblies are under validation: the volume ones (``Allen2022_fmri``,
        ``brainscore/``, ``benchmark/``) or the fsaverage ones (``Allen2022_fmri_surface``,
        ``brainscore_surface/``, ``benchmark_surface/``).
    """

    root: Path
    kind: str = "packaging"
    variant: str = DEFAULT_VARIANT
    assemblies_dir: Path | None = None
    brainscore_dir: Path | None = None
    benchmark_dir: Path | None = None
    space: str = "volume"

    def __post_init__(self):
        if self.kind not in LAYOUTS:
            allowed = ", ".join(LAYOUTS)
            raise ParameterError("layout", f"expected one of {allowed}, got {self.kind!r}")
        if self.space not in SPACES:
            allowed = ", ".join(SPACES)
            raise ParameterError("space", f"expected one of {allowed}, got {self.space!r}")
        # absolute: notebooks and workers run in other working folders
        object.__setattr__(self, "root", Path(self.root).absolute())
        for name in ("assemblies_dir", "brainscore_dir", "benchmark_dir"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)).absolute())

    # --- NSD files -------------------------------------------------------------------
    def subject_betas_dir(self, subject):
        """Folder holding one subject's single-trial beta files (of the layout's space)."""
        if self.space == "surface":
            return self.surface_betas_dir(subject)
        label = subject_label(subject)
        if self.kind == "packaging":
            return self.root / label / "betas"
        func = self.root / "nsddata_betas" / "ppdata" / label / "func1pt8mm"
        return func / "betas_fithrf_GLMdenoise_RR"

    def betas(self, subject, session):
        """HDF5 file of one session's betas (sessions count from 1)."""
        return self.subject_betas_dir(subject) / f"betas_session{int(session):02d}.hdf5"

    def ncsnr(self, subject):
        """NIfTI volume of NSD's noise-ceiling SNR for one subject."""
        return self.subject_betas_dir(subject) / "ncsnr.nii.gz"

    def roi_dir(self, subject):
        """Folder holding one subject's ROI volumes."""
        label = subject_label(subject)
        if self.kind == "packaging":
            return self.root / label / "rois"
        return self.root / "nsddata" / "ppdata" / label / "func1pt8mm" / "roi"

    def roi(self, subject, name):
        """NIfTI file of one ROI volume, e.g. ``prf-visualrois`` or ``lh.streams``."""
        return self.roi_dir(subject) / f"{name}.nii.gz"

    # --- NSD's fsaverage surface files -------------------------------------------------------
    def surface_betas_dir(self, subject):
        """Folder holding one subject's fsaverage betas and ncsnr (both hemispheres)."""
        label = subject_label(subject)
        if self.kind == "packaging":
            return self.root / label / "betas"
        surface = self.root / "nsddata_betas" / "ppdata" / label / "fsaverage"
        return surface / "betas_fithrf_GLMdenoise_RR"

    def surface_betas(self, subject, session, hemisphere):
        """MGH file of one session's betas on one hemisphere (sessions count from 1)."""
        name = f"{hemisphere}.betas_session{int(session):02d}.mgh"
        return self.surface_betas_dir(subject) / name

    def surface_ncsnr(self, subject, hemisphere):
        """MGH file of NSD's ncsnr on one hemisphere."""
        return self.surface_betas_dir(subject) / f"{hemisphere}.ncsnr.mgh"

    def surface_sessions(self, subject):
        """Session numbers with a betas file of either hemisphere, sorted."""
        folder = self.surface_betas_dir(subject)
        if not folder.is_dir():
            raise MissingInputError(folder, f"betas folder of {subject_label(subject)}")
        found = (_SURFACE_SESSION_FILE.match(p.name) for p in folder.iterdir())
        return sorted({int(m.group(2)) for m in found if m})

    def fsaverage_label_dir(self):
        """Folder of the fsaverage label files shared by every subject."""
        if self.kind == "packaging":
            return self.root / "fsaverage_labels"
        return self.root / "nsddata" / "freesurfer" / "fsaverage" / "label"

    def fsaverage_label(self, hemisphere, name):
        """One hemisphere's fsaverage label file, e.g. ``lh.Kastner2015.mgz``."""
        return self.fsaverage_label_dir() / f"{hemisphere}.{name}.mgz"

    def expdesign(self):
        """The ``nsd_expdesign.mat`` file."""
        if self.kind == "packaging":
            return self.root / "metadata" / "nsd_expdesign.mat"
        return self.root / "nsddata" / "experiments" / "nsd" / "nsd_expdesign.mat"

    # --- assemblies and benchmark output ----------------------------------------------
    def _assemblies(self):
        return Path(self.assemblies_dir) if self.assemblies_dir else self.root / "assemblies"

    def _suffix(self):
        return "_surface" if self.space == "surface" else ""

    def _brainscore(self):
        if self.brainscore_dir:
            return Path(self.brainscore_dir)
        return self.root / f"brainscore{self._suffix()}"

    def _benchmark(self):
        if self.benchmark_dir:
            return Path(self.benchmark_dir)
        shared = self.root / f"benchmark{self._suffix()}"
        if self.variant == DEFAULT_VARIANT:
            return shared
        own = self.root / f"benchmark{self._suffix()}{self.variant}"
        # a tree of this variant alone may keep its benchmark in the shared folder
        default = f"Allen2022_fmri{self._suffix()}_train{DEFAULT_VARIANT}.nc"
        if own.is_dir() or (self._brainscore() / default).is_file():
            return own
        return shared

    def split_csv(self):
        """CSV of the train/test split (columns ``stimulus_id``, ``nsd_id``, ``split``)."""
        return self._assemblies() / f"train_test_split{self.variant}.csv"

    def region_assembly(self, region):
        """Region assembly (NB02 output): 515 images x voxels of all subjects."""
        name = f"Allen2022{self._suffix()}.{check_region(region)}{self.variant}.nc"
        return self._assemblies() / name

    def brainscore_assembly(self, split):
        """Brain-Score train or test assembly (NB03 output)."""
        name = f"Allen2022_fmri{self._suffix()}_{check_split(split)}{self.variant}.nc"
        return self._brainscore() / name

    def activations(self, region, split):
        """Model activations the benchmark scored for one region and split."""
        return self._benchmark() / check_region(region) / f"activations_{check_split(split)}.nc"

    def score(self, region):
        """JSON file of the benchmark's reported score for one region."""
        return self._benchmark() / check_region(region) / "score.json"

    def rdm_score(self, region):
        """JSON file of the ``REGION-rdm`` benchmark's reported score, beside ``score.json``."""
        return self.score(region).with_name("score_rdm.json")

    # --- discovery ---------------------------------------------------------------------
    def subjects(self):
        """Subject numbers that have a betas folder, sorted."""
        parent = self.root if self.kind == "packaging" else self.root / "nsddata_betas" / "ppdata"
        if not parent.is_dir():
            return []
        found = (_SUBJECT_DIR.match(p.name) for p in parent.iterdir())
        numbers = (int(m.group(1)) for m in found if m)
        return sorted(n for n in numbers if self.subject_betas_dir(n).is_dir())

    def sessions(self, subject):
        """Session numbers of one subject's beta files (of the layout's space), sorted."""
        if self.space == "surface":
            return self.surface_sessions(subject)
        folder = self.subject_betas_dir(subject)
        if not folder.is_dir():
            raise MissingInputError(folder, f"betas folder of {subject_label(subject)}")
        found = (_SESSION_FILE.match(p.name) for p in folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def input_files(self, subjects, regions):
        """All files a validation of these subjects and regions reads, existing ones only."""
        paths = [self.expdesign(), self.split_csv()]
        paths += [self.region_assembly(r) for r in regions]
        paths += [self.brainscore_assembly(s) for s in SPLITS]
        for region in regions:
            paths += [self.activations(region, s) for s in SPLITS]
            paths += [self.score(region), self.rdm_score(region)]
        for subject in subjects:
            paths += self.subject_files(subject)
        if self.space == "surface" and subjects:
            paths += _sorted_dir(self.fsaverage_label_dir())
        return [p for p in paths if p.is_file()]

    def subject_files(self, subject):
        """The raw files of one subject in the layout's space (betas, ROIs, ncsnr)."""
        if self.space == "surface":
            hemis = ("lh", "rh")
            paths = [
                self.surface_betas(subject, s, h) for s in self.sessions(subject) for h in hemis
            ]
            return paths + [self.surface_ncsnr(subject, h) for h in hemis]
        paths = [self.betas(subject, s) for s in self.sessions(subject)]
        paths += [self.roi_dir(subject) / p.name for p in _sorted_dir(self.roi_dir(subject))]
        return [*paths, self.ncsnr(subject)]

    def validate(self, subjects, regions):
        """Raise :class:`MissingInputError` for the first required file that is absent."""
        required = [(self.expdesign(), "experimental design"), (self.split_csv(), "split CSV")]
        required += [(self.brainscore_assembly(s), f"Brain-Score {s} assembly") for s in SPLITS]
        required += [(self.region_assembly(r), f"{r} region assembly") for r in regions]
        for path, what in required:
            if not path.is_file():
                raise MissingInputError(path, what)
        for subject in subjects:
            if not self.sessions(subject):
                folder = self.subject_betas_dir(subject)
                what = (
                    "{lh,rh}.betas_sessionNN.mgh"
                    if self.space == "surface"
                    else "betas_sessionNN.hdf5"
                )
                raise MissingInputError(folder, f"{what} files")


def _sorted_dir(folder):
    return sorted(folder.iterdir()) if folder.is_dir() else []


def detect_layout(root, variant=DEFAULT_VARIANT, **overrides):
    """Tell which NSD layout ``root`` follows and return its :class:`NsdLayout`.

    Parameters
    ----------
    root : str or Path
        The NSD root folder.
    variant : str
        Suffix of the assembly files.
    **overrides
        ``assemblies_dir``, ``brainscore_dir`` or ``benchmark_dir``.

    Raises
    ------
    MissingInputError
        If ``root`` does not exist.
    LayoutError
        If ``root`` matches neither layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise MissingInputError(root, "NSD root folder")
    if (root / "nsddata").is_dir() or (root / "nsddata_betas").is_dir():
        return NsdLayout(root, "official", variant, **overrides)
    if (root / "metadata").is_dir() or any(_SUBJECT_DIR.match(p.name) for p in root.iterdir()):
        return NsdLayout(root, "packaging", variant, **overrides)
    raise LayoutError(
        root, "neither NSD layout: expected nsddata/ and nsddata_betas/, or subjSS/ and metadata/"
    )
