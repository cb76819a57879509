"""``python -m nexus_cli`` is the ``nexus`` command."""

import sys

from nexus_cli import main

sys.exit(main())
