"""``python -m dynamics …``: see :mod:`dynamics.cli`."""

import sys

from .cli import main

sys.exit(main())
