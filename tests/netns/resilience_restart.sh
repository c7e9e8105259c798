#!/usr/bin/env bash
# Issue 5: kill -9 of the server and a restart: the client notices, reconnects and pings again
# within 10 s, with the same inner address (it asks for its previous address; the restarted
# server's empty pool honours that).
source "$(dirname "$0")/lib.sh"
require_root
make_topology
make_pki
write_server_config "$WORK/site.toml"
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
before=$LAPTOP_ADDRESS

server=$(postern_pid "$NS_SITE") || fail "no postern process in the site namespace"
kill -9 "$server"
killed_at=$(date +%s.%N)
wait "$SERVER_PID" 2>/dev/null || true
log "server killed"
mv "$WORK/server.log" "$WORK/server-first.log"
# The kernel removes the dead daemon's TUN device asynchronously; a restart must wait for it.
wait_for 5 "the old pst0 to go away" bash -c "! ip -n $NS_SITE link show pst0"
start_server "$WORK/site.toml"
deadline=$((SECONDS + 15))
until in_laptop ping -c 1 -W 1 10.77.0.1 >/dev/null 2>&1; do
  [ "$SECONDS" -lt "$deadline" ] || fail "no ping through the tunnel 15 s after the restart"
done
back=$(python3 -c "import time; print(f'{time.time() - $killed_at:.1f}')")
after=$(tunnel_address "$NS_LAPTOP" pst0)
log "pinging again ${back}s after kill -9; address before $before, after $after"
[ "$after" = "$before" ] || fail "the client came back with a different address ($before -> $after)"
python3 -c "import sys; sys.exit(0 if $back <= 10 else 1)" || fail "took ${back}s (> 10 s) to come back"
grep -q "session_up" "$WORK/server.log" || fail "the restarted server has no session"
log "PASS"
