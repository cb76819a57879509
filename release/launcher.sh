#!/bin/sh
# nexus: the directory build for @SYSTEM@ @MACHINE@ (glibc @GLIBC@ or newer). It checks this
# machine, then runs the program beside it (lib/nexus), which would otherwise fail here with the
# dynamic loader's words. A symlink to this file (from ~/.local/bin, say) works as well.
needs="@SYSTEM@ @MACHINE@ with glibc @GLIBC@ or newer"
instead="The wheel runs wherever Python 3.11 or newer does: pipx install nexus_runner-@VERSION@-py3-none-any.whl"
here=$(uname -sm 2>/dev/null)
if [ "$here" != "@SYSTEM@ @MACHINE@" ]; then
    printf 'nexus: this build is for %s; this machine is %s.\n%s\n' \
        "$needs" "${here:-of an unknown kind}" "$instead" >&2
    exit 2
fi
glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null)  # "glibc 2.36"; nothing on musl (Alpine)
glibc=${glibc#glibc }
major=${glibc%%.*}
minor=${glibc#*.}
minor=${minor%%.*}
case "$major.$minor" in
    [0-9]*.[0-9]*) too_old=$(( major < @GLIBC_MAJOR@ || (major == @GLIBC_MAJOR@ && minor < @GLIBC_MINOR@) )) ;;
    *) too_old=1 ;;
esac
if [ "$too_old" -ne 0 ]; then
    printf 'nexus: this build is for %s; this machine has %s.\n%s\n' \
        "$needs" "${glibc:+glibc }${glibc:-no glibc}" "$instead" >&2
    exit 2
fi
self=$0
if [ -L "$self" ]; then
    self=$(readlink -f "$self")
fi
case "$self" in
    */*) exec "${self%/*}/lib/nexus" "$@" ;;
    *) exec ./lib/nexus "$@" ;;
esac
