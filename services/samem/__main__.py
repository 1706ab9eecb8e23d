"""``python -m samem``: the same as the ``samem`` command."""

import sys

from samem.cli import main

sys.exit(main())
