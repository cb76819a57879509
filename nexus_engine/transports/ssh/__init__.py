"""Running steps on SSH hosts, on asyncssh: connections, pooling, host keys, the remote side.

asyncssh logs to the ``asyncssh`` logger, and with no handler configured Python prints its
warnings on stderr, in the middle of the dashboard or a script's output. Everything it could say
reaches the operator as a failure value of the host concerned, so its log is kept quiet here.
"""

from __future__ import annotations

import logging

_log = logging.getLogger("asyncssh")
_log.addHandler(logging.NullHandler())
_log.propagate = False
