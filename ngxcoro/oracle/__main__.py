"""``python -m ngxcoro.oracle``: see ngxcoro.oracle.cli."""

import sys

from .cli import main

sys.exit(main())
