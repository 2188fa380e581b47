"""Fail unless the Brain-Score environment is what nsdval claims to support; print it."""

import sys

import numpy
import pandas
import sklearn
import xarray

from nsdval.analysis import peer

available, detail = peer.brainscore_status()
if not available:
    sys.exit(f"Brain-Score environment: brainscore_vision does not import ({detail})")
if not (numpy.__version__.startswith("1.") and xarray.__version__.startswith("2022.")):
    sys.exit(f"Brain-Score environment: numpy {numpy.__version__}, xarray {xarray.__version__}")
print(
    f"Brain-Score environment: {detail}, Python {sys.version.split()[0]}, "
    f"numpy {numpy.__version__}, xarray {xarray.__version__}, pandas {pandas.__version__}, "
    f"scikit-learn {sklearn.__version__}"
)
