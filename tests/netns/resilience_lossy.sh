#!/usr/bin/env bash
# Issue 5: a 50 MB TCP transfer through the tunnel while the fault relay drops 5 %, reorders 5 %,
# duplicates 1 % and corrupts 0.2 % of the outer UDP datagrams (each direction) completes with a
# matching SHA-256; the data channel rejects the corrupted and duplicated datagrams.
source "$(dirname "$0")/lib.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"
make_topology
make_pki
write_server_config "$WORK/site.toml"
write_relay_client_config "$WORK/laptop.toml"
start_relay --loss 0.05 --reorder 0.05 --duplicate 0.01 --corrupt 0.002 --seed 5
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
transfer_sha 50 50
relay_cmd stats
wait_for_log 5 "$WORK/relay.log" "relay stats "
stats=$(grep "relay stats " "$WORK/relay.log" | tail -n 1)
log "$stats"
for k in dropped reordered duplicated corrupted; do
  n=$(sed -n "s/.* $k=\([0-9]*\).*/\1/p" <<<"$stats")
  [ "${n:-0}" -gt 0 ] || fail "the relay injected no '$k' faults: the test proved nothing"
done
log "PASS"
