"""Test-suite wide settings.

``just test`` (and so CI) runs hypothesis under the ``ci`` profile: the same examples every
run, so a red build always means a change broke something, never that a new random draw found
an old bug. A plain ``pytest`` keeps drawing fresh examples, which is where new cases are found.
"""

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)

pytest_plugins = [
    "tests.transport_helpers",  # ``sessions``: what a kill test started is killed after it
    "tests.tmux",  # the ``tmux`` fixture, for every test that drives a terminal
    "tests.ssh.fixtures",  # the sshd lab (marked ``sshd``), for tests/ssh and the contract suite
    "tests.ssh.inprocess",  # an SSH server in this process: no root, no sshd
    "tests.marked_tree",  # ``tokens``: processes a sweep test marked are killed after it
]
