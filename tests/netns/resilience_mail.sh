#!/usr/bin/env bash
# Issue 5: a mail submitted through the tunnel while UDP is blackholed for 3 s (the relay drops
# every outer datagram) is accepted, and delivered exactly once.
source "$(dirname "$0")/lib.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"
make_topology
make_pki
write_server_config "$WORK/site.toml"
append_smtp_config "$WORK/site.toml"
write_relay_client_config "$WORK/laptop.toml"
start_relay
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
wait_for 10 "the SMTP listener" in_laptop bash -c "exec 3<>/dev/tcp/10.77.0.1/587"
head -c 300000 /dev/urandom | base64 >"$WORK/body.txt"

relay_cmd "blackhole on"
(sleep 3; relay_cmd "blackhole off") &
PIDS+=($!)
in_laptop "$POSTERN_BIN" send --server 10.77.0.1:587 --ca "$WORK/pki/ca.pem" --insecure --from laptop@example.test \
  --to alice@example.test --subject "through the blackout" --body "$WORK/body.txt" --timeout 30 \
  >"$WORK/send.log" 2>&1 || fail "submission failed: $(tail -n 3 "$WORK/send.log")"
log "accepted: $(tail -n 1 "$WORK/send.log")"
grep -q "relay blackhole state=off" "$WORK/relay.log" || fail "the blackhole was never lifted"
count_mail() { find "$WORK/maildir" -type f -path '*/new/*' 2>/dev/null | wc -l; }
wait_for 15 "delivery to the Maildir" bash -c "[ \$(find '$WORK/maildir' -type f -path '*/new/*' | wc -l) -ge 1 ]"
sleep 2
n=$(count_mail)
[ "$n" -eq 1 ] || fail "expected exactly one delivered message, found $n"
log "delivered once"
log "PASS"
