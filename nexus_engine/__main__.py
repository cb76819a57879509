"""``python -m nexus_engine`` is the ``nexus`` command."""

import sys

from nexus_engine.cli import main

sys.exit(main())
