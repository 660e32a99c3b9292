#!/bin/sh
# Re-creates the captures in this directory (run as root from crates/l2/testdata).
# Two namespaces of its own, a veth between them, documentation addresses only;
# both namespaces are deleted on exit, also on failure.
set -eu
S=flbl2cap-srv-$$
C=flbl2cap-cli-$$
cleanup() {
    for ns in "$S" "$C"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
}
trap cleanup EXIT INT TERM
ip netns add "$S"
ip netns add "$C"
ip -n "$S" link add eth0 type veth peer name eth0 netns "$C"
for ns in "$S" "$C"; do ip -n "$ns" link set lo up; ip -n "$ns" link set eth0 up; done
ip -n "$S" addr add 192.0.2.1/24 dev eth0
ip -n "$C" addr add 192.0.2.2/24 dev eth0
ip -n "$S" addr add 2001:db8::1/64 dev eth0 nodad
ip -n "$C" addr add 2001:db8::2/64 dev eth0 nodad
sleep 1

capture() { # FILE FILTER COUNT, then the command to run in the client namespace
    file=$1; filter=$2; count=$3; shift 3
    ip netns exec "$C" timeout 10 tcpdump -i eth0 -U -c "$count" -w "$file" "$filter" 2>/dev/null &
    tpid=$!
    sleep 1
    ip netns exec "$C" "$@" >/dev/null || true # arping -U gets no reply and exits 1
    wait "$tpid" || true
}
capture arping-request-reply.pcap arp 2 arping -c 1 -i eth0 192.0.2.1
capture arping-gratuitous.pcap arp 1 arping -U -c 1 -i eth0 -S 192.0.2.10 192.0.2.10
capture ndisc6-ns-na.pcap "icmp6 and (ip6[40] == 135 or ip6[40] == 136)" 2 ndisc6 -1 2001:db8::1 eth0
ls -l ./*.pcap
