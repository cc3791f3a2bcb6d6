"""Allow ``python -m humelab``."""

import sys

from .cli import main

sys.exit(main())
