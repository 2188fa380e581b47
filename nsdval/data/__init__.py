"""Where NSD's files are and how to read them.

The layouts of a tree, the experimental design, the raw betas and ROI volumes, the
assemblies and benchmark files under validation, the pre-flight of all of them, and the
watched child processes every read of an input goes through. Imports only ``nsdval``'s
base modules (errors, atomic, resources).
"""
