#!/usr/bin/env bash
# Issue 5: the client's outer source port changes mid-transfer (the relay rebinds, like a NAT
# forgetting its mapping) every 0.2 s: the server follows the authenticated packets to the new port
# and the 30 MB transfer completes with a matching SHA-256.
source "$(dirname "$0")/lib.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"
make_topology
make_pki
write_server_config "$WORK/site.toml"
write_relay_client_config "$WORK/laptop.toml"
# 2 ms each way: the relay's per-datagram timers slow the transfer enough to rebind mid-way.
start_relay --delay-ms 2
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
(
  while sleep 0.2; do relay_cmd rebind; done
) &
REBINDER=$!
PIDS+=($REBINDER)
transfer_sha 30 50
kill "$REBINDER" 2>/dev/null || true
n=$(grep -c "relay rebound" "$WORK/relay.log" || true)
[ "$n" -ge 2 ] || fail "the relay rebound only $n times (the transfer finished too early?)"
ports=$(grep -c "relay flow" "$WORK/relay.log" || true)
[ "$ports" -ge 3 ] || fail "expected at least 3 source ports, saw $ports"
grep -q "peer_moved" "$WORK/server.log" || fail "the server did not log the move to the new port"
log "transfer survived $n rebinds ($(grep -c 'peer_moved' "$WORK/server.log") moves in the server log)"
log "PASS"
