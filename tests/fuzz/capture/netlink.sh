#!/bin/sh
# tests/fuzz/capture/netlink.sh OUTDIR: a scratch namespace with a VTEP's
# links as loomd makes them (bridge, vxlan, a port), then netlink.py in it.
# Needs root.
set -eu
out=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ns=lfz-cap-$$
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
run() { ip -n "$ns" "$@"; }
run link set lo up
run link add eth0 type veth peer name uplink
run link add br10000 type bridge
run link set br10000 alias loom:acme/train group 99 up
run link add vx10000 type vxlan id 10000 local 192.0.2.1 dstport 4789 nolearning
run link set vx10000 master br10000 up
run link set eth0 up
ip netns exec "$ns" python3 "$(dirname "$0")/netlink.py" "$out"
