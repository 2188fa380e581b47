"""Allow ``python -m nsdval``."""

import sys

from nsdval.cli import main

sys.exit(main())
