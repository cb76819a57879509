# Nexus developer recipes. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

python := if path_exists(".venv/bin/python") == "true" { ".venv/bin/python" } else { "python3" }

# Everything CI checks: system packages, lint, types, tests with coverage.
test *args: system-deps lint
    {{python}} -m pytest -n 2 --hypothesis-profile=ci --cov --cov-report=term {{args}}

# ruff (with its security rules), mypy strict on every package, and the layer contracts
# (import-linter: the engine imports no face): zero findings.
lint:
    {{python}} -m ruff check .
    {{python}} -m ruff format --check .
    {{python}} -m mypy
    "$(dirname {{python}})/lint-imports" --no-cache

# Debian packages the SSH, sudo, terminal and completion tests need; installed only when missing.
system-deps:
    #!/usr/bin/env bash
    set -euo pipefail
    missing=()
    [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
    [ -x /usr/bin/sudo ] || missing+=(sudo)
    command -v tmux >/dev/null || missing+=(tmux)
    command -v zsh >/dev/null || missing+=(zsh)
    if [ ${#missing[@]} -gt 0 ]; then
        sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi

# Benchmarks, printed as a table.
bench:
    {{python}} -m benchmarks

# Accept new TUI snapshot baselines (look at snapshot_report.html first).
snapshots-update:
    {{python}} -m pytest tests/tui --snapshot-update

# Run the example pipeline.
demo:
    {{python}} -m nexus_cli -c nexus.toml.example --headless run
