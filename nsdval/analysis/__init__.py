"""What the reports compute.

The chain, the raw bypass, noise ceilings, ridge and the benchmark replica, checks and the
record of a report, and the computations behind each template notebook. Imports
``nsdval.data`` and the base modules; never the pages, the releases or the run machinery.
"""
