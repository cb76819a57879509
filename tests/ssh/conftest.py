"""Tests against real OpenSSH servers (see :mod:`tests.ssh.harness`) and against an SSH server
in this process (:mod:`tests.ssh.inprocess`).

Their fixtures (``ssh_lab``, ``ssh_home``, ``in_ssh_home``, ``pool``, ``inprocess_host``…) live
in :mod:`tests.ssh.fixtures`, a plugin of the whole suite, so that the transport contract suite
(``tests/contract``) can run on the lab too. Every test that uses the lab is marked ``sshd``;
the lab fails, never skips, where root or sshd is missing.
"""
