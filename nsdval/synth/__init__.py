"""A miniature NSD dataset in the real on-disk layout, with known ground truth and faults.

The generator shares no code with the rest of nsdval: it has its own paths, preprocessing
chain and benchmark, so that a bug in the validator cannot hide behind the same bug here.
"""

from nsdval.synth.faults import FAULTS
from nsdval.synth.generator import SPACES, synthesize
from nsdval.synth.layout import LAYOUTS
from nsdval.synth.presets import PRESETS
from nsdval.synth.rdm_faults import RDM_FAULTS
from nsdval.synth.surface_faults import SURFACE_FAULTS
from nsdval.synth.variant import FAULTS as VARIANT_FAULTS
from nsdval.synth.variant import VARIANTS

__all__ = [
    "FAULTS",
    "LAYOUTS",
    "PRESETS",
    "RDM_FAULTS",
    "SPACES",
    "SURFACE_FAULTS",
    "VARIANTS",
    "VARIANT_FAULTS",
    "synthesize",
]
