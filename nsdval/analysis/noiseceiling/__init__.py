"""NSD's noise ceiling, in one place.

:mod:`.formula` holds the definitions (ncsnr, the ceiling in percent, the benchmark's
threshold), :mod:`.streaming` accumulates ncsnr session by session in bounded memory during
the raw extraction, :mod:`.comparison` lines up the three ceilings of a subject's region
(recomputed from the betas, the assembly's ``nc_testset``, NSD's own ncsnr file), and
:mod:`.published` holds NSD's ncsnr files to NSD's published summary of them. The
benchmark's split-half ceiling is another quantity (Brain-Score's internal consistency of a
model score) and stays with the benchmark replica in :mod:`nsdval.analysis.ridge`.
"""
