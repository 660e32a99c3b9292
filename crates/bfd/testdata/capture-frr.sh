#!/bin/sh
# Re-creates frr-bfdd.hex (run as root from crates/bfd/testdata): two FRR bfdd in two
# network namespaces of its own, joined by a veth, documentation addresses only. Every
# daemon is killed by its PID and both namespaces are deleted on exit, also on failure.
set -eu
A=flbbfd-a-$$
B=flbbfd-b-$$
WORK=$(mktemp -d /tmp/flbbfd-XXXXXX)
chmod 755 "$WORK" # the daemons run as frr
TCPDUMP=
cleanup() {
    [ -n "$TCPDUMP" ] && kill -INT "$TCPDUMP" 2>/dev/null && sleep 1
    for ns in "$A" "$B"; do
        for pidfile in "/var/run/frr/$ns"/*.pid; do
            [ -f "$pidfile" ] && kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
        done
    done
    sleep 1
    for ns in "$A" "$B"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
        rm -rf "/var/run/frr/$ns"
    done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

ip netns add "$A"
ip netns add "$B"
ip -n "$A" link add eth0 type veth peer name eth0 netns "$B"
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; ip -n "$ns" link set eth0 up; done
ip -n "$A" addr add 192.0.2.1/24 dev eth0
ip -n "$B" addr add 192.0.2.2/24 dev eth0

start_frr() { # NETNS LOCAL PEER
    ns=$1; dir=$WORK/$ns
    mkdir -p "$dir" "/var/run/frr/$ns"
    cat >"$dir/frr.conf" <<CONF
frr defaults traditional
hostname $ns
log file $dir/frr.log
!
bfd
 peer $3 local-address $2 interface eth0
  detect-multiplier 3
  receive-interval 300
  transmit-interval 300
 !
!
CONF
    : >"$dir/vtysh.conf"
    chown -R frr:frr "$dir" "/var/run/frr/$ns"
    ip netns exec "$ns" /usr/lib/frr/zebra -d -N "$ns" -F traditional -P 0 \
        -f "$dir/frr.conf" -i "/var/run/frr/$ns/zebra.pid"
    for _ in $(seq 50); do [ -S "/var/run/frr/$ns/zserv.api" ] && break; sleep 0.1; done
    ip netns exec "$ns" /usr/lib/frr/bfdd -d -N "$ns" -F traditional -P 0 \
        -f "$dir/frr.conf" -i "/var/run/frr/$ns/bfdd.pid"
}
peer_a() { # vtysh commands under A's peer
    vtysh -N "$A" --config_dir "$WORK" -c 'configure terminal' -c bfd \
        -c 'peer 192.0.2.2 local-address 192.0.2.1 interface eth0' "$@"
}

ip netns exec "$B" tcpdump -i eth0 -U -w "$WORK/frr-bfdd.pcap" 'udp port 3784' 2>/dev/null &
TCPDUMP=$!
sleep 1
start_frr "$A" 192.0.2.1 192.0.2.2   # alone: Down, Your Discriminator 0, once a second
sleep 3
start_frr "$B" 192.0.2.2 192.0.2.1   # the three-way handshake, then Polls for the fast rate
sleep 3
peer_a -c 'transmit-interval 600'    # a timer change while Up: Poll and Final
sleep 2
vtysh -N "$A" --config_dir "$WORK" -c 'show bfd peers'
peer_a -c 'shutdown'                 # AdminDown with diagnostic 7; B goes Down
sleep 2
vtysh -N "$B" --config_dir "$WORK" -c 'show bfd peers'
kill -INT "$TCPDUMP"; wait "$TCPDUMP" || true; TCPDUMP=
python3 pcap2hex.py "$WORK/frr-bfdd.pcap" >frr-bfdd.hex
wc -l frr-bfdd.hex
[ -n "${SHOW_LOGS:-}" ] && cat "$WORK"/*/frr.log
