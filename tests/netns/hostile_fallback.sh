#!/usr/bin/env bash
# Issue 10: a client on the TLS fallback that stops reading. The laptop's UDP to the server is
# dropped (nftables in the laptop namespace), so its session comes up and stays on the TLS
# fallback; then the client is stopped (SIGSTOP: it neither reads nor sends) while the site sends
# it ~24 MB/s of UDP through the tunnel (postern_flood udp-flood to its tunnel address), which the
# server can only put into the control connection. The server's output for it stays bounded: the
# stream stops taking fallback frames at its backlog and the session's frame queue (256 frames)
# drops the rest, counted (tx_tls_queue_full); its peak RSS (VmHWM, reset before) stays less than
# 48 MiB above its RSS before. The client proposed keepalive 2 s, so after its dead-peer time
# (7 s) the server ends the session, and the control connection is really closed (no TCP
# connection left on the server although the peer has not read what was queued for it). When the
# client is continued it reconnects and passes traffic again.
# Measured: 20,000 datagrams/s for 14 s, the session ended 7 s after the stop, 135,680 frames
# dropped as tx_tls_queue_full, peak RSS +0 MiB (20 -> 21). Before ControlStream bounded its
# flush at close() (kCloseFlush), the session went down but the connection stayed established
# on the server, its write to the stopped peer never completing (this test timed out on it).
source "$(dirname "$0")/lib.sh"
require_root
command -v nft >/dev/null || skip "nft (nftables) is not installed"
: "${POSTERN_FLOOD:?POSTERN_FLOOD must point at the postern_flood binary (tests/netns/flood.cpp)}"
make_topology
make_pki
in_laptop nft -f - <<'NFT' || fail "nft"
table inet hostile {
  chain out { type filter hook output priority 0; udp dport 1723 drop; }
}
NFT
write_server_config "$WORK/site.toml"
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' \
  'keepalive = "2s"'
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
wait_for_log 15 "$WORK/server.log" 'transport_switched.*transport=tls'
log "the session is on the TLS fallback"
server_pid=$(postern_pid "$NS_SITE")
client_pid=$(postern_pid "$NS_LAPTOP")
kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
established() { in_site ss -Htn state established '( sport = :1723 )' | grep -c . || true; }
[ "$(established)" -eq 1 ] || fail "expected one control connection on the server, found $(established)"
rss_before=$(kib "$server_pid" VmRSS)
echo 5 >"/proc/$server_pid/clear_refs"  # VmHWM (peak RSS) starts again from the current RSS

kill -STOP "$client_pid"
stopped_at=$SECONDS
in_site "$POSTERN_FLOOD" udp-flood "$LAPTOP_ADDRESS:9" --pps 20000 --seconds 14 --size 1200 \
  >"$WORK/udp-flood.out" 2>&1 &
FLOOD_PID=$!
PIDS+=("$FLOOD_PID")
wait_for 20 "the server to end the stopped client's session" grep -q 'session_down' "$WORK/server.log"
log "$(grep -m1 'session_down' "$WORK/server.log")"
log "session ended $((SECONDS - stopped_at)) s after the client stopped"
wait_for 10 "the control connection to be closed on the server" bash -c "[ \"\$(ip netns exec $NS_SITE ss -Htn state established '( sport = :1723 )' | grep -c .)\" -eq 0 ]"
wait "$FLOOD_PID" || fail "postern_flood udp-flood failed: $(cat "$WORK/udp-flood.out")"
log "$(cat "$WORK/udp-flood.out")"
rss_peak=$(kib "$server_pid" VmHWM) || fail "the server died while a client stopped reading"
grow_mib=$(( (rss_peak - rss_before) / 1024 ))
log "server RSS $((rss_before / 1024)) MiB before, peak $((rss_peak / 1024)) MiB (+${grow_mib} MiB)"
"$POSTERN_BIN" status --socket "$WORK/server.sock" --json >"$WORK/status.json" || fail "postern status"
queue_full=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data_plane"]["tx_tls_queue_full"])' "$WORK/status.json")
log "fallback frames dropped at the session's queue: tx_tls_queue_full=$queue_full"
[ "$queue_full" -gt 0 ] || fail "no fallback frame was dropped at the session's queue (tx_tls_queue_full=0)"
[ "$grow_mib" -lt 48 ] || fail "server RSS grew by ${grow_mib} MiB for one fallback client that stopped reading (bound 48)"

kill -CONT "$client_pid"
wait_for 30 "the continued client to pass traffic again" in_laptop ping -c 1 -W 1 10.77.0.1
log "the continued client reconnected"
log "PASS"
