#!/usr/bin/env bash
# Client leak protection (issue 5 item 6, docs/resilience.md "Leak protection"): with
# leak_protection = true the laptop's pushed routes live in table 7073 behind three policy rules,
# its UDP and TCP sockets carry fwmark 0x7073, and a more specific route for the pushed LAN
# prefix injected into main via the laptop's veth (the TunnelVision attack, DHCP option 121)
# does not pull tunnel traffic off the tunnel, while the tunnel's own (marked) packets do follow
# main. A kill -9 leaves the rules; the next start replaces them without duplicates; a clean
# stop removes them. Also: a server restarted right after kill -9 comes up (TUN EBUSY retry).
source "$(dirname "$0")/lib.sh"
require_root
command -v ss >/dev/null || skip "ss (iproute2) is not installed"
WITH_LAN=1 make_topology
make_pki
SITE_ROUTES=', "192.168.50.0/24"' write_server_config "$WORK/site.toml"
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' \
  'leak_protection = true'
# The laptop's "internet": a default route via the site, as a DHCP lease would give it.
ip -n "$NS_LAPTOP" route add default via 10.200.0.2 dev "$VETH_LAPTOP"

rules() { ip -n "$NS_LAPTOP" -4 rule show; }
count_rules() { rules | grep -c -E '^3276[123]:' || true; }
route_dev() { in_laptop ip -4 route get "$@" | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n 1; }

up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
wait_for 10 "192.168.50.0/24 in table 7073" bash -c "ip -n $NS_LAPTOP route show table 7073 | grep -q '192.168.50.0/24 dev pst0'"

# 1. The rules and the table.
rules >"$WORK/rules.txt"
cat "$WORK/rules.txt"
grep -Eq '^32761:[[:space:]]+not from all fwmark 0x7073 lookup 7073 suppress_prefixlength 0' "$WORK/rules.txt" || fail "rule 32761 missing"
grep -Eq '^32762:[[:space:]]+from all lookup main suppress_prefixlength 0' "$WORK/rules.txt" || fail "rule 32762 missing"
grep -Eq '^32763:[[:space:]]+not from all fwmark 0x7073 lookup 7073$' "$WORK/rules.txt" || fail "rule 32763 missing"
ip -n "$NS_LAPTOP" route show table 7073 | tee "$WORK/table.txt"
grep -q '^10.77.0.0/24 dev pst0' "$WORK/table.txt" || fail "the pool prefix is not in table 7073"
if ip -n "$NS_LAPTOP" route show table main | grep '192.168.50.0/24' >/dev/null; then fail "pushed route leaked into main"; fi
log "rules 32761-32763 and table 7073 in place; main has no pushed route"

# 2. The tunnel's own sockets carry the mark (ss -e prints fwmark:0x7073).
in_laptop ss -tuanpe >"$WORK/ss.txt" 2>/dev/null
grep 'postern' "$WORK/ss.txt" | grep 'udp.*fwmark:0x7073' >/dev/null || { cat "$WORK/ss.txt"; fail "UDP socket not marked"; }
grep 'postern' "$WORK/ss.txt" | grep 'tcp.*10.200.0.2:1723' | grep 'fwmark:0x7073' >/dev/null || { cat "$WORK/ss.txt"; fail "TCP control socket not marked"; }
log "UDP and TCP sockets carry fwmark 0x7073"

# 3. Traffic goes through the tunnel.
in_laptop ping -c 3 -i 0.2 -W 2 192.168.50.2 >"$WORK/ping.log" || fail "ping to the LAN host through the tunnel"
[ "$(route_dev 192.168.50.2)" = pst0 ] || fail "192.168.50.2 does not route into pst0"
[ "$(route_dev 10.200.0.2 mark 0x7073)" = "$VETH_LAPTOP" ] || fail "marked packets to the server do not use the veth"
[ "$(route_dev 10.200.0.2)" = "$VETH_LAPTOP" ] || fail "the server's own address must stay on the veth"
log "ping 192.168.50.2 through pst0 ok"

# 4. TunnelVision: a more specific route for the pushed prefix, in main, via the laptop's veth.
ip -n "$NS_LAPTOP" route add 192.168.50.0/25 via 10.200.0.2 dev "$VETH_LAPTOP"
# The injected route is real and wins for anything that consults main first (marked traffic)...
[ "$(route_dev 192.168.50.2 mark 0x7073)" = "$VETH_LAPTOP" ] || fail "the injected route is not effective in main"
# ...but not for the laptop's ordinary traffic, which table 7073 answers first.
[ "$(route_dev 192.168.50.2)" = pst0 ] || { in_laptop ip route get 192.168.50.2; fail "TunnelVision route pulled 192.168.50.2 off the tunnel"; }
in_laptop ping -c 3 -i 0.2 -W 2 192.168.50.2 >>"$WORK/ping.log" || fail "ping to the LAN host with the competing route"
# Destinations outside the pushed prefixes still use main (no full tunnel was pushed).
[ "$(route_dev 198.51.100.7)" = "$VETH_LAPTOP" ] || fail "non-tunnel traffic should follow main"
log "competing 192.168.50.0/25 in main: ip route get still says pst0, ping ok"

# 5. kill -9 leaves the rules; a restart replaces them (no duplicates); a clean stop removes them.
kill -9 "$(postern_pid "$NS_LAPTOP")"
sleep 0.5
[ "$(count_rules)" = 3 ] || fail "expected the crashed client's 3 rules to remain, got $(count_rules)"
start_client "$WORK/laptop.toml" laptop2
wait_for_log 15 "$WORK/laptop2.log" "session_up"
[ "$(count_rules)" = 3 ] || { rules; fail "restart after a crash left $(count_rules) rules (want 3)"; }
wait_for 15 "a ping after the client restart" in_laptop ping -c 1 -W 1 192.168.50.2
log "after kill -9 and restart: exactly 3 rules, ping ok"
kill -TERM "$(postern_pid "$NS_LAPTOP")"
client_gone() { ! postern_pid "$NS_LAPTOP" >/dev/null; }
wait_for 10 "the client to exit" client_gone
[ "$(count_rules)" = 0 ] || { rules; fail "rules left after a clean stop"; }
if rules | grep 7073 >/dev/null; then fail "a rule for table 7073 is left"; fi
grep -q "leak_protection_removed" "$WORK/laptop2.log" || fail "client did not log the removal"
log "clean stop: rules gone"

# 6. Server kill -9 and a restart (the TUN name is still busy: the server retries), now pushing a default route and reached at 203.0.113.2, an address the laptop only reaches
# through main's default route: only the socket marks keep the tunnel from looping into itself.
ip -n "$NS_SITE" addr add 203.0.113.2/32 dev lo
SITE_ROUTES=', "192.168.50.0/24", "0.0.0.0/0"' write_server_config "$WORK/site_full.toml"
sed -i 's/^listen = .*/listen = "203.0.113.2:1723"/' "$WORK/site_full.toml"
write_client_config "$WORK/laptop_full.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' \
  'leak_protection = true' 'server_name = "10.200.0.2"'
sed -i 's/^server = .*/server = "203.0.113.2:1723"/' "$WORK/laptop_full.toml"
# The new server starts while the old one still holds pst0 (TUNSETIFF fails with EBUSY, as
# after a kill -9 until the kernel frees the device): it must wait, not fail.
OLD_SERVER=$(postern_pid "$NS_SITE")
in_site "$POSTERN_BIN" server -c "$WORK/site_full.toml" >"$WORK/server2.log" 2>&1 &
PIDS+=($!)
wait_for_log 5 "$WORK/server2.log" "tun_busy"
kill -9 "$OLD_SERVER"
wait_for_log 10 "$WORK/server2.log" 'daemon ready'
log "the restarted server waited for the busy TUN device, then came up"
start_client "$WORK/laptop_full.toml" laptop3
wait_for_log 15 "$WORK/laptop3.log" "session_up"
wait_for 10 "default route in table 7073" bash -c "ip -n $NS_LAPTOP route show table 7073 | grep -q '^default dev pst0'"
ip -n "$NS_LAPTOP" route show table main | grep '^default via 10.200.0.2' >/dev/null || fail "main's default route was touched"
[ "$(route_dev 198.51.100.7)" = pst0 ] || fail "with a pushed default route, other traffic must enter pst0"
[ "$(route_dev 203.0.113.2)" = pst0 ] || fail "unmarked traffic to the server's address must enter pst0"
[ "$(route_dev 203.0.113.2 mark 0x7073)" = "$VETH_LAPTOP" ] || fail "marked traffic to the server must leave by the veth"
[ "$(route_dev 10.200.0.9)" = "$VETH_LAPTOP" ] || fail "the local LAN (main's specific route) must stay reachable"
in_laptop ping -c 3 -i 0.2 -W 2 10.77.0.1 >>"$WORK/ping.log" || fail "ping through the full tunnel (does it loop?)"
in_laptop ping -c 3 -i 0.2 -W 2 192.168.50.2 >>"$WORK/ping.log" || fail "ping to the LAN host through the full tunnel"
log "full tunnel: default in table 7073, marked sockets reach 203.0.113.2 by the veth, ping ok"
# The documented limit: with a pushed default route, an injected route for a destination that no
# more specific pushed prefix covers is consulted before the tunnel's default (rule 32762).
ip -n "$NS_LAPTOP" route add 0.0.0.0/1 via 10.200.0.2 dev "$VETH_LAPTOP"
[ "$(route_dev 1.2.3.4)" = "$VETH_LAPTOP" ] || fail "docs/resilience.md says 0.0.0.0/1 in main wins over a pushed default; update them"
[ "$(route_dev 192.168.50.2)" = pst0 ] || fail "the pushed 192.168.50.0/24 must still beat 0.0.0.0/1"
ip -n "$NS_LAPTOP" route del 0.0.0.0/1 via 10.200.0.2 dev "$VETH_LAPTOP"
log "documented limit holds: an injected /1 beats a pushed default, not a pushed specific prefix"

# 7. Without leak protection a pushed default route is refused (it would replace main's default
# and loop the tunnel into itself); the rest of the session works.
kill -TERM "$(postern_pid "$NS_LAPTOP")"
wait_for 10 "the client to exit" client_gone
[ "$(count_rules)" = 0 ] || fail "rules left after the full-tunnel client stopped"
grep -v '^leak_protection' "$WORK/laptop_full.toml" >"$WORK/laptop_plain.toml"
start_client "$WORK/laptop_plain.toml" laptop4
wait_for_log 15 "$WORK/laptop4.log" "session_up"
grep "default_route_ignored" "$WORK/laptop4.log" >/dev/null || fail "no warning for the ignored default route"
ip -n "$NS_LAPTOP" route show table main | grep '^default via 10.200.0.2' >/dev/null || fail "main's default route was replaced"
wait_for 10 "a ping without leak protection" in_laptop ping -c 1 -W 1 10.77.0.1
log "without leak protection: default route ignored with a warning, main intact, ping ok"
log "PASS"
