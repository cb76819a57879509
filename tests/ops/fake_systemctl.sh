#!/bin/sh
# A stand-in for systemctl, for tests/ops/test_service.py only: systemd cannot be PID 1 in the
# container the tests run in, and the real systemctl then refuses every command. This one keeps
# each unit's state in files under $STATE/units/UNIT (active, enabled), a unit existing when its
# directory does, and appends every command it is given to $STATE/calls. It answers as
# systemctl does: the words of is-active and is-enabled and their exit codes.
STATE=/var/tmp/nexus-fake-systemd
printf '%s\n' "$*" >>"$STATE/calls"
verb=$1
shift
[ "${1-}" = "--" ] && shift
[ "$verb" = daemon-reload ] && exit 0
unit=$1
case $unit in
*.*) ;;
*) unit=$unit.service ;;
esac
dir=$STATE/units/$unit
if [ ! -d "$dir" ]; then
    case $verb in
    is-active) echo inactive; exit 3 ;;
    is-enabled) echo not-found; exit 4 ;;
    *) echo "Failed to $verb $unit: Unit $unit not found." >&2; exit 5 ;;
    esac
fi
case $verb in
is-active) cat "$dir/active"; [ "$(cat "$dir/active")" = active ] || exit 3 ;;
is-enabled) cat "$dir/enabled"; [ "$(cat "$dir/enabled")" = enabled ] || exit 1 ;;
start | restart) echo active >"$dir/active" ;;
reload)
    [ "$(cat "$dir/active")" = active ] || { echo "$unit is not active, cannot reload." >&2; exit 1; }
    ;;
stop) echo inactive >"$dir/active" ;;
enable) echo enabled >"$dir/enabled" ;;
disable) echo disabled >"$dir/enabled" ;;
*) echo "Unknown command verb $verb." >&2; exit 1 ;;
esac
