"""Fixture configs for the pilot tests: small local runs, ``{dir}`` is the test's directory."""

FLAKY = """
[tasks.setup]
commands = ["echo setting up"]

[tasks.flaky]
deps = ["setup"]
commands = [
    "test -f '{dir}/marker' || { touch '{dir}/marker'; echo 'first try fails' >&2; exit 3; }",
    "echo fixed",
]

[tasks.after]
deps = ["flaky"]
commands = ["echo after"]
"""

TWO_FLAKY = """
[tasks.left]
commands = ["test -f '{dir}/left' || { touch '{dir}/left'; exit 5; }"]

[tasks.right]
commands = ["test -f '{dir}/right' || { touch '{dir}/right'; exit 6; }"]
"""

BROKEN = """
[tasks.broken]
commands = ["echo 'no luck' >&2; exit 4"]

[tasks.needs_broken]
deps = ["broken"]
commands = ["echo never"]

[tasks.other]
commands = ["echo other"]
"""

SLOW = """
[tasks.slow]
commands = ["echo started; sleep 30"]
"""

INDEPENDENT = """
[tasks.alpha]
commands = ["echo alpha"]

[tasks.beta]
commands = ["echo beta"]

[tasks.gamma]
commands = ["echo gamma"]
"""

REMOTE = """
[hosts]
web1 = "web1.example.com"
web2 = "web2.example.com"
web3 = "web3.example.com"

[groups]
web = ["web1", "web2", "web3"]

[tasks.local_step]
commands = ["echo local"]

[tasks.deploy]
deps = ["local_step"]
on = "web"
commands = ["ship"]
"""

NOISY = """
[tasks.noisy]
commands = [
    'printf "ok \\033[31mred\\033[0m [/bold] [b]x\\n"; printf "\\377\\376 bad\\n" >&2',
]
"""

#: silent from "hello" until the test creates ``{dir}/speak``: flagged quiet however slow the
#: machine, and for as long as the test looks
QUIET = """
[settings]
quiet_after = 0.2

[tasks.hush]
commands = ["echo hello; until [ -e {dir}/speak ]; do sleep 0.02; done; echo bye"]
"""

SLOW_FAILURE = """
[tasks.late]
commands = ["sleep 0.6; exit 2"]

[tasks.elsewhere]
commands = ["echo elsewhere"]
"""

#: FLAKY with its failing step marked unsafe to repeat: a retry asks first.
UNSAFE = """
[tasks.flaky]
commands = [
    { cmd = "test -f '{dir}/marker' || { touch '{dir}/marker'; exit 3; }", idempotent = false },
]
"""
