"""Over real sshd, as locally (``tests/engine/test_interpolation_safety.py``): hostile
``${env:…}``/``${secret:…}`` values reach the remote ``/bin/sh`` byte for byte, in every quoting
context, and run nothing; a secret is in no process's argv on the host."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from nexus_engine.transports.ssh.pool import SshPool
from nexus_engine.transports.ssh.transport import SshTransport
from tests.injection import CANARY, HOSTILE, expected, spec_of, the_step
from tests.ssh.harness import SshLab
from tests.ssh.support import GRACE, login
from tests.transport_helpers import Sink

pytestmark = pytest.mark.usefixtures("in_ssh_home")


@pytest.fixture
def transport(ssh_lab: SshLab, pool: SshPool) -> SshTransport:
    return SshTransport(pool, login(ssh_lab, ssh_lab.hosts[0]), kill_grace=GRACE)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=HOSTILE)
async def test_hostile_values_arrive_exactly_and_run_nothing_over_ssh(
    transport: SshTransport, value: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _, step = the_step(Path(tmp), value)
    sink = Sink()
    result = await transport.run(spec_of(step), sink, asyncio.Event())
    assert result.succeeded, (result, sink.err)
    assert sink.out == expected(value)
    assert not CANARY.exists()
