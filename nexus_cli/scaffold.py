"""Commands that write something for the user to keep: a starter config, a completion script."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import tomli_w

from nexus_cli.parser import subcommands
from nexus_engine.status import EXIT_USAGE

STARTER = {
    "settings": {"parallel_limit": 10, "continue_on_error": False, "retries": 0, "timeout": 3600},
    "hosts": {},
    "groups": {},
    "tasks": {
        "build": {"description": "Build the project", "commands": ["echo building"]},
        "test": {
            "description": "Run the tests",
            "deps": ["build"],
            "commands": [{"cmd": "echo testing", "retries": 1, "timeout": 600}],
        },
    },
}


def init(path: Path) -> int:
    """Write a starter nexus.toml, never over an existing file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        print(f"nexus: {path} already exists; not overwriting it", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"nexus: cannot create {path}: {error.strerror}", file=sys.stderr)
        return EXIT_USAGE
    with os.fdopen(fd, "wb") as file:
        file.write(b"# Nexus tasks. See nexus.toml.example for every key, with comments.\n\n")
        tomli_w.dump(STARTER, file)
    print(f"wrote {path}; try: nexus -c {path} --headless run")
    return 0


def completion(parser: argparse.ArgumentParser, shell: str) -> int:
    commands = subcommands(parser)
    options = {name: _options(sub) for name, sub in commands.items()}
    print({"bash": _bash, "zsh": _zsh, "fish": _fish}[shell](sorted(commands), options))
    return 0


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(s for action in parser._actions for s in action.option_strings)


def _bash(commands: list[str], options: dict[str, list[str]]) -> str:
    cases = "\n".join(
        f'        {name}) opts="{" ".join(opts)}" ;;' for name, opts in options.items()
    )
    return f"""# bash completion for nexus: eval "$(nexus completion bash)"
_nexus() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" cmd="" opts="" word
    for word in "${{COMP_WORDS[@]:1:COMP_CWORD-1}}"; do
        case "$word" in -*) ;; *) cmd="$word"; break ;; esac
    done
    case "$cmd" in
{cases}
        *) opts="{" ".join(commands)} -c --config --headless --help"
           COMPREPLY=($(compgen -W "$opts" -- "$cur")); return ;;
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif [[ "$cmd" == run ]]; then
        COMPREPLY=($(compgen -W "$(nexus list 2>/dev/null | awk 'NR>1 {{print $1}}')" -- "$cur"))
    fi
}}
complete -o default -F _nexus nexus"""


def _zsh(commands: list[str], options: dict[str, list[str]]) -> str:
    return f"""#compdef nexus
# zsh completion for nexus: nexus completion zsh > "${{fpath[1]}}/_nexus"
_nexus() {{
    local -a commands
    commands=({" ".join(commands)})
    if (( CURRENT == 2 )); then
        _describe 'command' commands
    elif [[ ${{words[2]}} == run && ${{words[CURRENT]}} != -* ]]; then
        compadd -- $(nexus list 2>/dev/null | awk 'NR>1 {{print $1}}')
    else
        case ${{words[2]}} in
{chr(10).join(f"            {n}) compadd -- {' '.join(o)} ;;" for n, o in options.items())}
        esac
    fi
}}
_nexus "$@\""""


def _fish(commands: list[str], options: dict[str, list[str]]) -> str:
    lines = [
        "# fish completion for nexus: nexus completion fish | source",
        f"complete -c nexus -f -n __fish_use_subcommand -a '{' '.join(commands)}'",
        "complete -c nexus -f -n '__fish_seen_subcommand_from run' "
        "-a '(nexus list 2>/dev/null | awk \"NR>1 {print \\$1}\")'",
    ]
    for name, opts in options.items():
        for opt in opts:
            if opt.startswith("--"):
                lines.append(
                    f"complete -c nexus -n '__fish_seen_subcommand_from {name}' -l {opt[2:]}"
                )
    return "\n".join(lines)
