#!/usr/bin/env bash
# Issue 5: a client that goes silent (SIGSTOP: its TCP connection stays open, nothing is sent) is
# reaped by the server after idle_timeout; its address stays reserved for address_grace, so when
# the client wakes up (SIGCONT) it reconnects and gets the same address back. The client's
# keepalive (1 s) is below idle_timeout, so a live idle client is never reaped: checked first.
source "$(dirname "$0")/lib.sh"
require_root
make_topology
make_pki
write_server_config "$WORK/site.toml" 'idle_timeout = "2s"'
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' 'keepalive = "1s"'
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
before=$LAPTOP_ADDRESS
sleep 6
grep -q 'session_reaped' "$WORK/server.log" && fail "the server reaped a live, idle client"
client=$(postern_pid "$NS_LAPTOP") || fail "no postern process in the laptop namespace"
kill -STOP "$client"
# Two mechanisms race to end it: the idle reaper (idle_timeout 2 s, checked every second) and the
# control channel's dead-peer timer (3.5 x keepalive); either way the session must go.
wait_for_log 10 "$WORK/server.log" 'session_reaped|reason="peer dead"'
wait_for_log 5 "$WORK/server.log" 'session_down'
log "server ended the silent session ($(grep -oE 'session_reaped|reason="peer dead"' "$WORK/server.log" | head -n 1))"
kill -CONT "$client"
wait_for 15 "the client back" bash -c "[ \$(grep -c 'session_up' '$WORK/laptop.log') -ge 2 ]"
wait_for 10 "a ping after the reconnect" in_laptop ping -c 1 -W 1 10.77.0.1
after=$(tunnel_address "$NS_LAPTOP" pst0)
[ "$after" = "$before" ] || fail "address changed across the reap: $before -> $after"
log "reconnected with the same address $after (held for address_grace)"
log "PASS"
