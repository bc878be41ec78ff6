#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#
# netns_pair.sh - two network namespaces joined by a user-space delay line (build/netdelay).
#
#   tools/netns_pair.sh up NAME [--mtu BYTES] [--delay-ms MS] [--jitter-ms MS] [--loss PCT]
#                              [--reorder PCT] [--reorder-ms MS] [other netdelay options]
#   tools/netns_pair.sh down NAME
#   tools/netns_pair.sh gc                    remove pairs whose netdelay is no longer running
#
# `up` makes the namespaces NAME-c (client, 10.213.0.1) and NAME-s (server, 10.213.0.2), each
# with loopback up and a TUN device hsdelay0 that build/netdelay creates; every packet between
# them waits MS milliseconds (default 20) in each direction, so the round trip is 2*MS. Every
# option but --mtu goes to netdelay as it is (loss, jitter, reordering: see tools/netdelay.c).
# --mtu sets both devices' MTU (68..1500; default 1500, the TUN default), so that TCP cuts a
# flight into more, smaller segments. The
# 10.213.0.0/24 addresses exist only inside these two namespaces: nothing is routed out of them.
# netdelay runs in the background in the caller's process group; its pid and log are kept in
# /run/hstrace-netns/NAME/. `up` prints "ready NAME-c 10.213.0.1 NAME-s 10.213.0.2".
#
# `down` stops that netdelay (its TUN devices go with it) and prints its statistics ("a->b
# relayed=N lost=N ..."), kills the processes still inside the two namespaces (only processes
# started there, e.g. by `ip netns exec NAME-s ...`), deletes the namespaces and the state
# folder. It is idempotent and never fails because something is
# already gone. Run as root.
set -u

STATE=/run/hstrace-netns
CLIENT_ADDR=10.213.0.1
SERVER_ADDR=10.213.0.2
DEV=hsdelay0
NETDELAY=${NETDELAY:-$(dirname "$0")/../build/netdelay}

die() { echo "netns_pair.sh: $*" >&2; exit 1; }

down() {
	name=$1
	dir=$STATE/$name
	if [ -f "$dir/pid" ]; then
		pid=$(cat "$dir/pid")
		if [ -n "$pid" ] && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = netdelay ]; then
			kill -TERM "$pid" 2>/dev/null
			i=0
			while [ -d /proc/"$pid" ] && [ $i -lt 50 ]; do sleep 0.05; i=$((i + 1)); done
			[ -d /proc/"$pid" ] && kill -KILL "$pid" 2>/dev/null
		fi
	fi
	for ns in "$name-c" "$name-s"; do
		[ -e /run/netns/"$ns" ] || continue
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null || true
	done
	# netdelay's last words: one statistics line per direction.
	[ -f "$dir/netdelay.log" ] && grep -v '^ready' "$dir/netdelay.log"
	rm -rf "$dir"
	return 0
}

up() {
	name=$1
	shift
	case $name in *[!A-Za-z0-9_.-]* | "") die "bad pair name '$name'" ;; esac
	# Take --mtu out of the options; the others are netdelay's.
	mtu=1500
	n=$#
	while [ "$n" -gt 0 ]; do
		if [ "$1" = --mtu ]; then
			[ "$n" -ge 2 ] || die "--mtu needs a value"
			mtu=$2
			case $mtu in *[!0-9]* | "") die "bad --mtu '$mtu'" ;; esac
			if [ "$mtu" -lt 68 ] || [ "$mtu" -gt 1500 ]; then die "--mtu $mtu is not in 68..1500"; fi
			shift 2
			n=$((n - 2))
		else
			set -- "$@" "$1"
			shift
			n=$((n - 1))
		fi
	done
	[ ${#name} -le 20 ] || die "pair name '$name' is longer than 20 characters"
	[ -x "$NETDELAY" ] || die "$NETDELAY not found: build it with make tools"
	[ -e /run/netns/"$name-c" ] && die "namespace $name-c exists already"
	dir=$STATE/$name
	mkdir -p "$dir" || die "cannot make $dir"
	# From here on, a failure removes whatever was made.
	trap 'down "$name"' EXIT
	ip netns add "$name-c" || die "ip netns add $name-c failed"
	ip netns add "$name-s" || die "ip netns add $name-s failed"
	"$NETDELAY" --ns-a "$name-c" --ns-b "$name-s" --dev "$DEV" "$@" \
		>"$dir/netdelay.log" 2>&1 </dev/null &
	echo $! >"$dir/pid"
	i=0
	until grep -q '^ready' "$dir/netdelay.log" 2>/dev/null; do
		[ -d /proc/"$(cat "$dir/pid")" ] || die "netdelay failed: $(cat "$dir/netdelay.log")"
		[ $i -lt 100 ] || die "netdelay did not start within 5 s"
		sleep 0.05
		i=$((i + 1))
	done
	for side in c s; do
		ns=$name-$side
		me=$CLIENT_ADDR
		peer=$SERVER_ADDR
		if [ $side = s ]; then me=$SERVER_ADDR; peer=$CLIENT_ADDR; fi
		ip -n "$ns" link set lo up &&
			ip -n "$ns" addr add "$me" peer "$peer" dev "$DEV" &&
			ip -n "$ns" link set "$DEV" mtu "$mtu" up ||
			die "configuring $DEV in $ns failed"
	done
	trap - EXIT
	echo "ready $name-c $CLIENT_ADDR $name-s $SERVER_ADDR"
}

gc() {
	[ -d $STATE ] || return 0
	for dir in "$STATE"/*/; do
		[ -d "$dir" ] || continue
		name=$(basename "$dir")
		pid=$(cat "$dir/pid" 2>/dev/null)
		if [ -z "$pid" ] || [ "$(cat /proc/"$pid"/comm 2>/dev/null)" != netdelay ]; then
			echo "netns_pair.sh: removing stale pair $name"
			down "$name"
		fi
	done
}

[ "$(id -u)" = 0 ] || die "run as root"
case ${1:-} in
up) [ $# -ge 2 ] || die "usage: netns_pair.sh up NAME [netdelay options]"; shift; up "$@" ;;
down) [ $# -eq 2 ] || die "usage: netns_pair.sh down NAME"; down "$2" ;;
gc) gc ;;
*) die "usage: netns_pair.sh up NAME [--mtu BYTES] [--delay-ms MS] [--jitter-ms MS]" \
	"[--loss PCT] [--reorder PCT] [--reorder-ms MS] | down NAME | gc" ;;
esac
