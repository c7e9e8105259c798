#!/usr/bin/env bash
# Issue 5: with UDP blackholed from the start the session comes up over the TLS fallback and
# passes traffic (ping + 10 MB with a matching SHA-256); when UDP comes back both ends move to UDP
# and traffic flows there (the relay forwards it). The return happens during a transfer, and the
# server switches exactly once each way (it used to flap on every interleaved frame).
source "$(dirname "$0")/lib.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"
make_topology
make_pki
write_server_config "$WORK/site.toml"
write_relay_client_config "$WORK/laptop.toml"
start_relay --blackhole
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
wait_for_log 10 "$WORK/laptop.log" 'transport_switched.*transport=tls'
wait_for_log 10 "$WORK/server.log" 'transport_switched.*transport=tls'
log "both ends on the TLS fallback"
in_laptop ping -c 5 -i 0.2 -W 2 10.77.0.1 >"$WORK/ping.log" || fail "ping over the TLS fallback"
transfer_sha 10 40
log "traffic over TLS ok"

# UDP comes back in the middle of a transfer: the laptop's TLS queue still drains while its new
# frames go over UDP, so the server sees both paths interleaved and must switch once, not per frame.
( transfer_sha 200 80 ) &
transfer_pid=$!
sleep 0.5
relay_cmd "blackhole off"
wait_for_log 10 "$WORK/laptop.log" 'transport_switched.*transport=udp'
wait "$transfer_pid" || fail "transfer across the return to UDP"
in_laptop ping -c 5 -i 0.2 -W 2 10.77.0.1 >>"$WORK/ping.log" || fail "ping after UDP came back"
wait_for_log 10 "$WORK/server.log" 'transport_switched.*transport=udp'
switches=$(grep -c 'transport_switched' "$WORK/server.log")
[ "$switches" -eq 2 ] || fail "the server switched transport $switches times (want 2: to tls and back)"
relay_cmd stats
wait_for_log 5 "$WORK/relay.log" "relay stats "
forwarded=$(grep "relay stats " "$WORK/relay.log" | tail -n 1 | sed -n 's/.* forwarded=\([0-9]*\).*/\1/p')
# Thousands, not the pings' ten: the transfer itself moved to UDP half-way.
[ "${forwarded:-0}" -ge 1000 ] || fail "the transfer did not go on over UDP after the blackhole ended (forwarded=$forwarded)"
log "back on UDP ($forwarded datagrams forwarded by the relay)"
log "PASS"
