"""A miniature NSD dataset in the real on-disk layout, with known ground truth and faults.

The generator shares no code with the rest of nsdval: it has its own paths, preprocessing
chain and benchmark, so that a bug in the validator cannot hide behind the same bug here.
"""

from nsdval.synth.faults import FAULTS
from nsdval.synth.generator import synthesize
from nsdval.synth.presets import PRESETS

__all__ = ["FAULTS", "PRESETS", "synthesize"]
