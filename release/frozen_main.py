"""The directory build's program (PyInstaller's entry script): the ``nexus`` command.

The launcher beside it (release/launcher.sh, ``nexus`` in the tarball) has checked the machine
already; this only runs the command line."""

import sys

from nexus_cli import main

if __name__ == "__main__":
    sys.exit(main())
