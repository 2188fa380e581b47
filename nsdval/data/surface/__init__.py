"""NSD's fsaverage surface files behind the data-space seam.

:class:`~nsdval.data.surface.space.SurfaceSpace` answers
:class:`~nsdval.data.space.DataSpace` with two readers, the only modules that open these
files: :mod:`.mgh` (per-hemisphere MGH betas and ncsnr, read at the wanted vertices only)
and :mod:`.labels` (the fsaverage label files shared by every subject -> regions).
"""
