"""HTML pages.

Executed notebooks rendered as self-contained report pages, the index, the comparison
page. Imports ``nsdval.analysis`` (check statuses) and ``nsdval.data``.
"""
