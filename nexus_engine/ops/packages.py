"""``package``: packages installed, at the newest version, or removed, by the host's own
package manager, found by the probe: apt (with dpkg), dnf or yum (with rpm), or apk.

The probe asks only the package database and the lists already on the host: ``dpkg-query``
and ``apt-cache policy`` (its ``Candidate``: what ``apt-get install`` would take now);
``rpm -q`` and ``dnf``/``yum -C`` (cache only: ``check-update`` for an upgrade, ``list
available`` for a package not installed); ``apk list``. It never refreshes anything. For
``cache_valid`` it reads how old the lists are: for apt, the newer of the lists directory and
``update-success-stamp`` (which ``apt.systemd.daily`` touches after an update, and so does
the action here), for apk its ``APKINDEX`` files; dnf and yum refresh their metadata
themselves (``metadata_expire``), so ``cache_valid`` leaves them be. The action is one
install (or remove) command for all of the step's packages that need it, after a refresh of
the lists when they are older than ``cache_valid`` (a change in itself); with apt it runs
with ``DEBIAN_FRONTEND=noninteractive`` and keeps changed configuration files.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from nexus_engine.config.ensure_packages import package_problem
from nexus_engine.ops.base import Action, Assessment, Facts
from nexus_engine.ops.probe import Probe

#: What the probe looks for, in order, in words for a host that has none of them.
LOOKED_FOR = "apt-get with dpkg-query, dnf or yum with rpm, apk"
_APT_INSTALL = (
    "DEBIAN_FRONTEND=noninteractive apt-get install -y -q"
    " -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
)
_APT_STAMP = (
    'eval "$(apt-config shell NXS Dir::State/d)"'
    ' && mkdir -p "${NXS}periodic" && touch "${NXS}periodic/update-success-stamp"'
)
#: how each manager refreshes its lists (None: it does so itself)
_REFRESH = {"apt": f"apt-get update -q && {_APT_STAMP}", "apk": "apk update -q"}
#: ``dpkg-query``'s ``want``/``status`` abbreviation of an installed package (``ii``, or one
#: waiting for triggers), then ``|`` and its version
_DPKG = (
    "s=$(dpkg-query -W -f '${{db:Status-Abbrev}}|${{Version}}\\n' {n} | head -n 1)\n"
    "case $s in ?[iWt]?'|'*) v=${{s#*|}};; *) v=;; esac\n"
    "printf 'installed:%s=%s\\n' {n} \"$v\"\n"
    "printf 'candidate:%s=%s\\n' {n}"
    " \"$(LC_ALL=C apt-cache policy {n} | sed -n 's/^ *Candidate: //p' | head -n 1)\""
)
_RPM = (
    "v=; rpm -q --quiet {n} && v=$(rpm -q --qf '%{{VERSION}}-%{{RELEASE}}\\n' {n} | head -n 1)\n"
    "if [ -n \"$v\" ]; then c=$($pm -q -C check-update {n} | awk 'NF==3 {{print $2; exit}}')\n"
    '  [ -n "$c" ] || c=$v\n'
    'else c=$($pm -q -C list available {n} | awk \'NF==3 && $1 != "Available" {{c=$2}}'
    " END {{print c}}'); fi\n"
    'printf \'installed:%s=%s\\ncandidate:%s=%s\\n\' {n} "$v" {n} "$c"'
)
_APK = (
    "f=$(apk list -I {n} | head -n 1 | cut -d ' ' -f 1)\n"
    "case $f in {n}-[0-9]*) v=${{f#{n}-}};; *) v=;; esac\n"
    "u=$(apk list -u {n} | head -n 1 | cut -d ' ' -f 1)\n"
    "[ -n \"$v\" ] || u=$(apk list {n} | head -n 1 | cut -d ' ' -f 1)\n"
    "case $u in {n}-[0-9]*) c=${{u#{n}-}};; *) c=$v;; esac\n"
    'printf \'installed:%s=%s\\ncandidate:%s=%s\\n\' {n} "$v" {n} "$c"'
)
_APT_AGE = (
    'eval "$(apt-config shell NXL Dir::State::Lists/d NXS Dir::State/d)"\n'
    'set -- "$NXL" "${NXS}periodic/update-success-stamp"'
)
_APK_AGE = "set -- /var/cache/apk/APKINDEX.*.tar.gz"
#: the age in seconds of the newest of the files in ``$@``; nothing when none exists
_AGE = (
    't=0; for f in "$@"; do [ -e "$f" ] && m=$(stat -c %Y "$f") && [ "$m" -gt $t ] && t=$m;'
    ' done; [ $t -gt 0 ] && echo "lists_age=$(( $(date +%s) - t ))"; set --'
)


def _has(*tools: str) -> str:
    return " && ".join(f"command -v {tool} >/dev/null 2>&1" for tool in tools)


@dataclass(frozen=True, slots=True)
class Packages:
    """``state``: ``present`` (at ``version``, when given), ``latest`` or ``absent``."""

    names: tuple[str, ...]
    state: str = "present"
    version: str | None = None
    cache_valid: int | None = None
    kind: str = "package"

    @property
    def path(self) -> str:
        """Not a path: what checking keys these packages' predicted state by."""
        return "packages " + " ".join(self.names)

    def describe(self) -> str:
        names = ", ".join(self.names)
        if self.state == "absent":
            return f"no package {names}"
        words = [self.state if self.version is None else f"version {self.version}"]
        if self.cache_valid is not None:
            words.append(f"lists at most {self.cache_valid} s old")
        return f"package {names} ({', '.join(words)})"

    def _invalid(self) -> str | None:
        """What a variable's value made of a name or the version that no manager takes."""
        for value, is_version in [*((n, False) for n in self.names), (self.version, True)]:
            if value is None:
                continue
            problem = package_problem(value, version=is_version)
            if problem is not None:
                what = "version" if is_version else "package name"
                return f"{what} {value!r} is not valid: it {problem}; nothing was changed"
        return None

    def probe(self, *, diff: bool = False) -> Probe:
        if self._invalid() is not None:
            return Probe(path="", script="")
        quoted = [shlex.quote(name) for name in self.names]
        age = self.cache_valid is not None

        def each(template: str) -> list[str]:
            return [template.format(n=n) for n in quoted]

        lines = [
            f"if {_has('apt-get', 'dpkg-query', 'apt-cache', 'apt-config')}; then",
            "echo manager=apt",
            *each(_DPKG),
            *([_APT_AGE, _AGE] if age else []),
            f"elif {_has('rpm')} && {{ {_has('dnf')} || {_has('yum')}; }}; then",
            f"pm=yum; {_has('dnf')} && pm=dnf",
            'echo "manager=$pm"',
            *each(_RPM),
            f"elif {_has('apk')}; then",
            "echo manager=apk",
            *each(_APK),
            *([_APK_AGE, _AGE] if age else []),
            "else echo manager=none; fi",
        ]
        return Probe(path="", script="\n".join(lines))

    def assess(self, facts: Facts) -> Assessment:
        failure = self._invalid()
        manager = facts.get("manager", "none")
        if failure is None and manager not in ("apt", "dnf", "yum", "apk"):
            failure = f"found no package manager on the host (looked for {LOOKED_FOR})"
        if failure is not None:
            return Assessment(failure=failure)
        installed = {n: facts.get(f"installed:{n}", "") for n in self.names}
        candidate = {n: facts.get(f"candidate:{n}", "").replace("(none)", "") for n in self.names}
        refresh = self._stale(manager, facts)
        if self.state == "absent":
            return self._remove(manager, installed, facts)
        target = {n: self.version or candidate[n] for n in self.names}
        needed = [n for n in self.names if self._needs(installed[n], target[n])]
        unknown = [n for n in needed if not target[n] and not installed[n]]
        if unknown and not refresh:
            return Assessment(
                failure=f"{manager} knows no package {', '.join(unknown)} (its lists have no "
                "candidate; cache_valid refreshes them first); nothing was changed"
            )
        if not needed and not refresh:
            found = _versions(self.names, installed)
            return Assessment(detail=f"{_plural(self.names)} {found} ({manager})")
        return self._install(
            manager, needed=needed, installed=installed, target=target, refresh=refresh, facts=facts
        )

    def _needs(self, installed: str, target: str) -> bool:
        """Whether a package installed at ``installed`` ("" for not at all) must change;
        ``target``: the version asked for, or the candidate ("" when unknown)."""
        if not installed:
            return True
        if self.version is not None:
            return installed != self.version
        return self.state == "latest" and target not in ("", installed)

    def _stale(self, manager: str, facts: Facts) -> bool:
        if self.cache_valid is None or manager not in _REFRESH:
            return False
        age = facts.get("lists_age", "")
        return not age.lstrip("-").isdigit() or int(age) > self.cache_valid

    def _remove(self, manager: str, installed: dict[str, str], facts: Facts) -> Assessment:
        there = [n for n in self.names if installed[n]]
        if not there:
            return Assessment(
                detail=f"no {_plural(self.names)} {', '.join(self.names)} ({manager})"
            )
        command = {
            "apt": "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q",
            "apk": "apk del",
        }.get(manager, f"{manager} remove -y")
        return Assessment(
            verb="remove",
            detail=f"{_plural(there)} {_versions(there, installed)} ({manager})",
            action=Action(f"{command} {shlex.join(there)}"),
            predicted={**dict(facts), **{f"installed:{n}": "" for n in there}},
        )

    def _install(
        self,
        manager: str,
        *,
        needed: list[str],
        installed: dict[str, str],
        target: dict[str, str],
        refresh: bool,
        facts: Facts,
    ) -> Assessment:
        steps = [_REFRESH[manager]] if refresh else []
        # after a refresh the newest may be newer than the lists said: every name goes along
        going = list(self.names) if refresh and self.state == "latest" else needed
        if going:
            steps.append(self._command(manager, going, installed))
        items = [
            f"{n} {installed[n]} → {target[n]}" if installed[n] else f"{n} {target[n]}".strip()
            for n in needed
        ]
        lists = f"the {manager} package lists"
        if not items:
            stale = f"refreshed more than {self.cache_valid} s ago"
            detail = f"{lists} ({stale if 'lists_age' in facts else 'never refreshed'})"
        else:
            detail = f"{_plural(needed)} {', '.join(items)} ({manager}"
            detail += f", {lists} refreshed first)" if refresh else ")"
        predicted = {
            **dict(facts),
            **{f"installed:{n}": target[n] for n in needed},
            **({"lists_age": "0"} if refresh else {}),
        }
        new_only = items and not any(installed[n] for n in needed)
        return Assessment(
            verb="create" if new_only else "update",
            detail=detail,
            action=Action(" && ".join(steps)),
            predicted=predicted,
        )

    def _command(self, manager: str, names: list[str], installed: dict[str, str]) -> str:
        """One command installing ``names`` (at ``version``, or the newest), upgrading them
        too with ``latest``."""
        new = [name for name in names if not installed.get(name)]
        old = [name for name in names if installed.get(name)]
        if self.version is not None:
            sep = "-" if manager in ("dnf", "yum") else "="
            names = [f"{name}{sep}{self.version}" for name in names]
        if manager == "apt":
            downgrade = " --allow-downgrades" if self.version is not None else ""
            return f"{_APT_INSTALL}{downgrade} {shlex.join(names)}"
        if manager == "apk":
            upgrade = " -u" if self.state == "latest" else ""
            return f"apk add{upgrade} {shlex.join(names)}"
        if self.version is not None or self.state != "latest" or not old:
            return f"{manager} install -y {shlex.join(names)}"
        upgrade = f"{manager} upgrade -y {shlex.join(old)}"
        return f"{manager} install -y {shlex.join(new)} && {upgrade}" if new else upgrade


def _plural(names: tuple[str, ...] | list[str]) -> str:
    return "package" if len(names) == 1 else "packages"


def _versions(names: tuple[str, ...] | list[str], installed: dict[str, str]) -> str:
    return ", ".join(f"{n} {installed[n]}" for n in names)
