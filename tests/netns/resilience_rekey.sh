#!/usr/bin/env bash
# Issue 5: rekeys forced every 1024 packets during a sustained transfer: no lost packet (1000
# pings at 5 ms, all answered, while 30 MB move with a matching SHA-256) and the logs count the
# rekeys.
source "$(dirname "$0")/lib.sh"
require_root
make_topology
make_pki
write_server_config "$WORK/site.toml" 'rekey_packets = 1024' 'rekey_interval = "10s"'
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
in_laptop ping -q -c 1000 -i 0.005 -W 2 10.77.0.1 >"$WORK/ping.log" 2>&1 &
PING_PID=$!
PIDS+=($PING_PID)
transfer_sha 30 50
wait "$PING_PID" || true
grep -q " 0% packet loss" "$WORK/ping.log" || fail "pings lost during rekeys: $(grep loss "$WORK/ping.log")"
rekeys=$(grep -c "rekeyed" "$WORK/laptop.log" || true)
log "$(grep loss "$WORK/ping.log")"
log "client rekeyed $rekeys times"
[ "$rekeys" -ge 10 ] || fail "expected at least 10 rekeys, the client logged $rekeys"
log "PASS"
