"""A run.

Planning the reports, executing each in a fresh kernel on workers (the local process pool
or dask), incremental runs and progress. Only ``nsdval.cli`` imports it.
"""
