"""NSD's volume (func1pt8mm) files behind the data-space seam.

:class:`~nsdval.data.volume.space.VolumeSpace` answers :class:`~nsdval.data.space.DataSpace`
with three readers, the only modules that open these files: :mod:`.betas` (HDF5 single-trial
betas), :mod:`.nifti` (ROI and ncsnr volumes) and :mod:`.rois` (regions -> voxels).
"""
