#!/bin/bash
# One `ip` process per operation for the N-node chain; namespaces wkbench*.
trap 'for ns in $(ip netns list | awk "/^wkbench/ {print \$1}"); do ip netns del "$ns"; done' EXIT
N=${1:-1000}
addr() { local v=$(( (10<<24) + $1*4 + $2 )); echo "$((v>>24&255)).$((v>>16&255)).$((v>>8&255)).$((v&255))/30"; }
t0=$(date +%s.%N)
for ((i=0;i<N;i++)); do ip netns add wkbench$i; done
for ((i=0;i<N-1;i++)); do ip link add east netns wkbench$i type veth peer name west netns wkbench$((i+1)); done
for ((i=0;i<N;i++)); do
  ip -n wkbench$i link set lo up
  if ((i>0)); then ip -n wkbench$i link set west up; ip -n wkbench$i addr add $(addr $((i-1)) 2) dev west; fi
  if ((i<N-1)); then ip -n wkbench$i link set east up; ip -n wkbench$i addr add $(addr $i 1) dev east; fi
done
t1=$(date +%s.%N)
for ((i=0;i<N;i++)); do ip netns del wkbench$i; done
t2=$(date +%s.%N)
echo "ip per operation N=$N: build $(echo "$t1-$t0"|bc)s, delete $(echo "$t2-$t1"|bc)s"
echo "leftover wkbench namespaces: $(ip netns list | grep -c wkbench || true)"
