"""``python -m bulk`` is the ``bulk`` command."""

import sys

from bulk.cli import main

sys.exit(main())
