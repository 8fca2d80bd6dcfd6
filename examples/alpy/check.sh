#!/bin/sh
# Runs on the DUT, uploaded over its serial console by the lab's tests:
# checks the appliance's side of the test bed (forwarding on, an address
# on each NIC, traffic seen on each) and exits 1 at the first problem.
# Arguments: the NICs to check (default eth0 eth1).
fail() { echo "alpy-check: $*"; exit 1; }
[ $# -gt 0 ] || set -- eth0 eth1
[ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || fail "forwarding is off"
for nic in "$@"; do
  [ -e "/sys/class/net/$nic" ] || fail "$nic: no such interface"
  ip -o -4 addr show "$nic" | grep -q ' inet ' || fail "$nic has no IPv4 address"
  rx=$(cat "/sys/class/net/$nic/statistics/rx_packets")
  [ "$rx" -gt 0 ] || fail "$nic received nothing"
done
echo "alpy-check: ok $(hostname) forwards between $*"
