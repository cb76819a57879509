# The first lines of the Nexus zipapp's __main__.py (release/build.py puts them there, before
# shiv's bootstrap): the interpreter is checked before anything is unpacked or imported, so a
# Python the zipapp was not built for gets a sentence, not a traceback. Plain Python 3 (no
# f-strings, no annotations), so that an old python3 reads it.
import os
import sys


def nexus_check_interpreter(python, system, machine):
    # type: (tuple[int, int], str, str) -> None
    """Exit with a message unless this is Python ``python`` (a (major, minor) pair) on
    ``system`` (sys.platform) and ``machine`` (uname's machine), what the zipapp carries
    compiled modules for."""
    here = getattr(os, "uname", None)
    this_machine = here().machine if here else "unknown"
    this_python = tuple(sys.version_info[:2])
    if this_python == tuple(python) and sys.platform == system and this_machine == machine:
        return
    needs = "Python {0}.{1} on {2} {3}".format(python[0], python[1], system, machine)
    found = "Python {0} on {1} {2}".format(
        ".".join(str(n) for n in sys.version_info[:3]), sys.platform, this_machine
    )
    sys.stderr.write(
        "nexus: this zipapp needs {0} (it carries compiled modules built for it); this is {1}.\n"
        "Run it with python{2}.{3} (python{2}.{3} {4}), or install the wheel instead"
        " (pipx install nexus_runner-*.whl), which works on any Python 3.11 or newer.\n".format(
            needs, found, python[0], python[1], sys.argv[0]
        )
    )
    sys.exit(2)
