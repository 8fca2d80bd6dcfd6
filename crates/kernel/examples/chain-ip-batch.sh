#!/bin/bash
# ip baseline for the N-node chain: ip -batch for netns+veths, then one
# `ip -n NS -batch` per namespace for lo/up/addresses (ip batch lines cannot
# switch namespace). Namespaces are named wkbench*, deleted at the end.
set -e
trap 'for ns in $(ip netns list | awk "/^wkbench/ {print \$1}"); do ip netns del "$ns"; done' EXIT
N=${1:-1000}
D=${TMPDIR:-/tmp}/wkbench; rm -rf $D; mkdir -p $D
addr() { local v=$(( (10<<24) + $1*4 + $2 )); echo "$((v>>24&255)).$((v>>16&255)).$((v>>8&255)).$((v&255))/30"; }
for ((i=0;i<N;i++)); do echo "netns add wkbench$i"; done > $D/ns.batch
for ((i=0;i<N-1;i++)); do echo "link add east netns wkbench$i type veth peer name west netns wkbench$((i+1))"; done > $D/links.batch
for ((i=0;i<N;i++)); do
  { echo "link set lo up"
    if ((i>0)); then echo "link set west up"; echo "addr add $(addr $((i-1)) 2) dev west"; fi
    if ((i<N-1)); then echo "link set east up"; echo "addr add $(addr $i 1) dev east"; fi
  } > $D/n$i.batch
done
for ((i=0;i<N;i++)); do echo "netns del wkbench$i"; done > $D/del.batch
t0=$(date +%s.%N)
ip -batch $D/ns.batch
t1=$(date +%s.%N)
ip -batch $D/links.batch
t2=$(date +%s.%N)
for ((i=0;i<N;i++)); do ip -n wkbench$i -batch $D/n$i.batch; done
t3=$(date +%s.%N)
ip -n wkbench$((N-1)) -o addr show dev west | grep -q "$(addr $((N-2)) 2)"
t4=$(date +%s.%N)
ip -batch $D/del.batch
t5=$(date +%s.%N)
echo "ip -batch N=$N: build $(echo "$t3-$t0"|bc)s (netns $(echo "$t1-$t0"|bc)s, veths $(echo "$t2-$t1"|bc)s, up+addresses [$N procs] $(echo "$t3-$t2"|bc)s), delete $(echo "$t5-$t4"|bc)s"
echo "leftover wkbench namespaces: $(ip netns list | grep -c wkbench || true)"
