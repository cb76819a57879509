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
    command -v crontab >/dev/null || missing+=(cron)
    command -v dpkg-scanpackages >/dev/null || missing+=(dpkg-dev)
    if [ ${#missing[@]} -gt 0 ]; then
        sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi

# Benchmarks, printed as a table (first installs the peers, pyinfra and Ansible, if missing).
bench *args:
    {{python}} -c "import ansible, fabric, pyinfra" 2>/dev/null || {{python}} -m pip install -q -e ".[bench]"
    {{python}} -m benchmarks {{args}}

# Accept new TUI snapshot baselines (look at snapshot_report.html first).
snapshots-update:
    {{python}} -m pytest tests/tui --snapshot-update

# Run the example pipeline.
demo:
    {{python}} -m nexus_cli -c nexus.toml.example --headless run

# First installs the build tools (the dist extra) and what PyInstaller needs; see release/build.py.
# The release artefacts into dist/: wheel, sdist, zipapp (.pyz), directory build (.tar.gz).
dist: dist-deps
    {{python}} -c "import shiv, PyInstaller, pipx, uv" 2>/dev/null || {{python}} -m pip install -q -e ".[dist]"
    {{python}} release/build.py

# Each from itself, in a clean directory: version, validate and a headless run of the example;
# the dashboard from the directory build, under tmux; a wrong Python or machine refused (tests/dist).
# Builds dist/, then checks every artefact.
dist-check: system-deps dist
    {{python}} -m pytest tests/dist -p no:cacheprovider --durations=5

# objdump (binutils), and the shared libpython that Debian's python3 itself does without.
# Debian packages PyInstaller needs; installed only when missing.
dist-deps:
    #!/usr/bin/env bash
    set -euo pipefail
    missing=()
    command -v objdump >/dev/null || missing+=(binutils)
    libpython=$({{python}} -c 'import os, sys, sysconfig as s; lib = os.path.join(s.get_config_var("LIBDIR"), s.get_config_var("INSTSONAME")); print("libpython%d.%d" % sys.version_info[:2] if sys.base_prefix == "/usr" and not os.path.exists(lib) else "")')
    [ -z "$libpython" ] || missing+=("$libpython")
    if [ ${#missing[@]} -gt 0 ]; then
        sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
