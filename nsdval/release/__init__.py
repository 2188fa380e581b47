"""Releases: the run manifest, the archive, its verification, and the comparison of runs.

Imports ``nsdval.analysis`` and ``nsdval.data``; never the pages or the run machinery.
"""
