"""``git``: a clone of a repository with a version checked out, changed only when HEAD moves.

The probe finds the commit asked for without changing anything: ``git ls-remote`` of the
repository for a branch or a tag (an annotated tag peeled with ``^{}``; no version: the
branch the remote's HEAD names), a full commit id is itself, and a short one is looked up in
the clone (when it is not there yet, the step fetches and checks it out, so HEAD moves). Of
``dest`` it finds whether it is a clone, of which ``origin``, at which commit, and whether
tracked files have local changes (``git status --porcelain --untracked-files=no``): those fail
the step unless ``force`` discards them; untracked files are not local changes, and are never
touched (a checkout that would overwrite one fails with git's own words, unless ``force``).
Every command on the clone carries ``-c safe.directory=DEST``, so root (``sudo``) may work in
a clone another user owns without a change to anyone's git config.
"""

from __future__ import annotations

import base64
import re
import shlex
from dataclasses import dataclass

from nexus_engine.ops.base import Action, Assessment, Facts
from nexus_engine.ops.probe import Probe, decoded

_FULL_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHORT_COMMIT = re.compile(r"[0-9a-fA-F]{4,39}")
_REF_LINE = re.compile(r"(?P<sha>[0-9a-f]{40})\t(?P<ref>\S+)")
_SYMREF_LINE = re.compile(r"ref: refs/heads/(?P<branch>\S+)\tHEAD")
#: Keeps git from asking for a password on a terminal no one reads.
_NO_PROMPT = "GIT_TERMINAL_PROMPT=0"
#: The most of a command's output a probe keeps (what a failure quotes, the refs it reads).
_KEEP = 65536


@dataclass(frozen=True, slots=True)
class Wanted:
    """The commit the step asks for (None: a short id not yet fetched), and in words."""

    commit: str | None
    words: str
    branch: str | None = None  # check it out as this branch
    fetch: str = ""  # what ``git fetch origin`` is given to bring the commit


@dataclass(frozen=True, slots=True)
class Git:
    """A checkout as wanted: which repository, where, at which commit."""

    repo: str
    dest: str
    version: str | None = None
    depth: int | None = None
    force: bool = False
    kind: str = "git"

    @property
    def path(self) -> str:
        return self.dest

    def describe(self) -> str:
        at = f" at {self.version}" if self.version else ""
        return f"git clone of {self.repo}{at} in {self.dest}"

    @property
    def _short(self) -> bool:
        version = self.version or ""
        return not _FULL_COMMIT.fullmatch(version) and bool(_SHORT_COMMIT.fullmatch(version))

    def _git(self) -> str:
        """``git``, working on the clone, trusted whoever owns it."""
        dest = shlex.quote(self.dest)
        return f"git -c {shlex.quote('safe.directory=' + self.dest)} -C {dest}"

    def probe(self, *, diff: bool = False) -> Probe:
        q, dest, git = shlex.quote, shlex.quote(self.dest), self._git()
        lines = ["if ! command -v git >/dev/null 2>&1; then echo git=missing; else"]
        if self.version is None or not _FULL_COMMIT.fullmatch(self.version):
            refs = ["HEAD"]
            if self.version is not None:
                refs = [f"refs/heads/{self.version}", f"refs/tags/{self.version}"]
                refs.append(f"refs/tags/{self.version}^{{}}")
            lines += [
                f"  nexus_out=$({_NO_PROMPT} git ls-remote --symref -- {q(self.repo)} "
                f"{' '.join(q(ref) for ref in refs)} 2>&1 </dev/null)",
                '  echo "remote_rc=$?"',
                f"  printf remote=; printf '%s' \"$nexus_out\" | head -c {_KEEP} | base64 -w0",
                "  echo",
            ]
        lines += [
            f"  if [ -e {dest}/.git ]; then",
            "    echo dest=repo",
            f"    printf url=; {git} config --get remote.origin.url | base64 -w0; echo",
            f"    printf head=; {git} rev-parse -q --verify HEAD; echo",
            f"    printf dirty=; {git} status --porcelain --untracked-files=no"
            f" | head -c {_KEEP} | base64 -w0; echo",
        ]
        if self._short:
            commit = q(f"{self.version}^{{commit}}")
            lines.append(f"    printf local=; {git} rev-parse -q --verify {commit}; echo")
        lines += [
            f"  elif [ -d {dest} ]; then",
            f'    if [ -z "$(ls -A -- {dest})" ]; then echo dest=empty; else echo dest=dir; fi',
            f"  elif [ -e {dest} ] || [ -L {dest} ]; then echo dest=other",
            "  else echo dest=absent; fi",
            "fi",
        ]
        return Probe(path="", script="\n".join(lines))

    def assess(self, facts: Facts) -> Assessment:
        wanted = self._refused(facts) or self._wanted(facts)
        if isinstance(wanted, str):
            return Assessment(failure=f"{wanted}; nothing was changed")
        if facts.get("dest") in ("absent", "empty"):
            return self._clone(facts, wanted)
        head, dirty = facts.get("head", ""), bool(_text(facts, "dirty"))
        if wanted.commit == head and not dirty:
            return Assessment(detail=f"{self.dest} is at {wanted.words}")
        return self._update(facts, wanted, head, dirty)

    def _refused(self, facts: Facts) -> str | None:
        """Why the step cannot touch ``dest`` at all, or None."""
        if facts.get("git") == "missing":
            return "the host lacks git, which git steps need"
        if not self.dest.startswith("/"):
            return f"dest {self.dest!r} is not an absolute path on the host"
        return None if facts.get("dest") in ("absent", "empty") else self._not_ours(facts)

    def _not_ours(self, facts: Facts) -> str | None:
        """Why an existing ``dest`` is not a clone this step may move, or None."""
        dest = facts.get("dest")
        if dest != "repo":
            what = "is not a directory" if dest == "other" else "is not a git clone (no .git)"
            return f"{self.dest} {what}"
        url = _text(facts, "url").removesuffix("\n")
        if url != self.repo:
            return f"{self.dest} is a clone of {url or 'no origin'!r}, not of {self.repo!r}"
        dirty = _text(facts, "dirty").splitlines()
        if dirty and not self.force:
            shown = ", ".join(line[3:] for line in dirty[:3]) + (", …" if len(dirty) > 3 else "")
            return f"{self.dest} has local changes ({shown}); force = true discards them"
        return None

    def _wanted(self, facts: Facts) -> Wanted | str:
        """The commit asked for, or why it cannot be found."""
        version = self.version
        if version is not None and _FULL_COMMIT.fullmatch(version):
            return Wanted(version, f"commit {version[:12]}", fetch=version)
        said = _text(facts, "remote")
        refs = {
            found["ref"]: found["sha"]
            for line in said.splitlines()
            if (found := _REF_LINE.fullmatch(line))
        }
        if facts.get("remote_rc") != "0":
            return f"cannot read {self.repo}: {_last_lines(said)}"
        if version is None:
            return self._head(said, refs)
        return self._named(version, refs, facts)

    def _named(self, version: str, refs: dict[str, str], facts: Facts) -> Wanted | str:
        """A branch, a tag (peeled) or a short commit id, in that order."""
        if f"refs/heads/{version}" in refs:
            return self._branch(version, refs[f"refs/heads/{version}"])
        tag = f"refs/tags/{version}"
        if tag in refs:
            commit = refs.get(f"{tag}^{{}}", refs[tag])
            return Wanted(commit, f"tag {version} ({commit[:12]})", fetch=f"+{tag}:{tag}")
        if self._short:
            local = facts.get("local") or None
            words = f"commit {version}" if local is None else f"commit {local[:12]}"
            return Wanted(local, words)
        return f"{self.repo} has no branch or tag {version!r}"

    def _head(self, said: str, refs: dict[str, str]) -> Wanted | str:
        """The remote's HEAD: the branch it names (or, naming none, its commit)."""
        if "HEAD" not in refs:
            return f"{self.repo} has no HEAD (an empty repository?)"
        symref = next(filter(None, map(_SYMREF_LINE.fullmatch, said.splitlines())), None)
        if symref is None:
            return Wanted(refs["HEAD"], f"its HEAD ({refs['HEAD'][:12]})", fetch="HEAD")
        return self._branch(symref["branch"], refs["HEAD"])

    def _branch(self, branch: str, commit: str) -> Wanted:
        fetch = f"+refs/heads/{branch}:refs/remotes/origin/{branch}"
        return Wanted(commit, f"branch {branch} ({commit[:12]})", branch, fetch)

    def _clone(self, facts: Facts, wanted: Wanted) -> Assessment:
        q, git = shlex.quote, self._git()
        depth = f" --depth {self.depth}" if self.depth else ""
        named = wanted.branch or (self.version if wanted.fetch.startswith("+refs/tags/") else None)
        branch = f" --branch {q(named)}" if named else ""
        lines = [f"git clone -q{depth}{branch} -- {q(self.repo)} {q(self.dest)}"]
        if named is None and wanted.commit is not None and wanted.fetch != "HEAD":
            commit = q(f"{wanted.commit}^{{commit}}")
            lines.append(
                f"{git} cat-file -e {commit} 2>/dev/null"
                f" || {git} fetch -q{depth} origin {q(wanted.commit)}"
            )
        if named is None and self.version is not None:
            lines.append(f"{git} checkout -q --detach {q(wanted.commit or self.version)}")
        return Assessment(
            verb="create",
            detail=f"{self.dest} (a clone of {self.repo} at {wanted.words})",
            action=_action(lines),
            predicted=_predicted(facts, self.repo, wanted.commit),
        )

    def _update(self, facts: Facts, wanted: Wanted, head: str, dirty: bool) -> Assessment:
        q, git = shlex.quote, self._git()
        depth = f" --depth {self.depth}" if self.depth else ""
        lines = [f"{git} reset -q --hard"] if dirty else []
        if wanted.commit != head:
            if wanted.commit is None:  # a short id the clone does not know yet
                lines.append(f"{git} fetch -q{depth} --tags origin")
            elif wanted.fetch == wanted.commit:
                commit = q(f"{wanted.commit}^{{commit}}")
                lines.append(
                    f"{git} cat-file -e {commit} 2>/dev/null"
                    f" || {git} fetch -q{depth} origin {q(wanted.commit)}"
                )
            elif wanted.fetch:
                lines.append(f"{git} fetch -q{depth} origin {q(wanted.fetch)}")
            force = " -f" if self.force else ""
            target = q(wanted.commit or self.version or "")
            if wanted.branch is not None:
                lines.append(f"{git} checkout -q{force} -B {q(wanted.branch)} {target}")
            else:
                lines.append(f"{git} checkout -q{force} --detach {target}")
            words = f"from {head[:12] or 'no commit'} to {wanted.words}"
        else:
            words = f"at {wanted.words}"
        if dirty:
            words += ", its local changes discarded"
        return Assessment(
            verb="update",
            detail=f"{self.dest} ({words})",
            action=_action(lines),
            predicted=_predicted(facts, self.repo, wanted.commit),
        )


def _action(lines: list[str]) -> Action:
    return Action("\n".join(["set -e", f"export {_NO_PROMPT}", *lines]) + "\n")


def _predicted(facts: Facts, repo: str, commit: str | None) -> dict[str, str]:
    """The clone as the action leaves it (its HEAD unknown when it checks out a short id
    the clone did not know yet); ``type``: what a later step about the same path sees."""
    url = base64.b64encode(repo.encode()).decode("ascii")
    return {**facts, "dest": "repo", "url": url, "head": commit or "", "dirty": "", "type": "dir"}


def _text(facts: Facts, key: str) -> str:
    said = decoded(facts, key)
    return "" if said is None else said.decode("utf-8", "replace")


def _last_lines(said: str) -> str:
    lines = [line for line in said.strip().splitlines() if line.strip()]
    return " ".join(lines[-3:]) or "git ls-remote failed"
