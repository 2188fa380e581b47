"""nsdval: validate Brain-Score NSD fMRI assemblies against the raw NSD betas.

The package computes; the template notebooks in ``notebooks/`` narrate one validation
each and the runner executes them with papermill per subject and region.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
