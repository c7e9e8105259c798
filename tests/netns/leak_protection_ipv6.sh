#!/usr/bin/env bash
# IPv6 outside an IPv4-only tunnel (issue 13 item 3, docs/resilience.md "IPv6 outside the
# tunnel"). The laptop's link is dual-stack (fd00:200::/64 on the veth, an IPv6 default route
# via the site, as SLAAC would give it) and an "internet" host 2001:db8:99::1 sits beyond it.
# The server pushes an IPv4 default route and DNS. With leak_protection = true (and the default
# leak_protection_ipv6 = "block"):
#   - ping6 to the internet host fails at once (EACCES from the prohibit rule), no packet of it
#     leaves on the veth (tcpdump-free check: the site's ip6 counter of echo requests stays put);
#   - the link itself keeps working: ping6 to the site's on-link address and to its link-local
#     address (neighbour discovery), and the laptop's IPv6 default route stays in main;
#   - a DNS query over IPv6 (UDP port 53) to a resolver on the link is refused;
#   - IPv4 still goes through the tunnel.
# Then with leak_protection_ipv6 = "allow" the same ping6 goes out natively, and after a clean
# stop no IPv6 rule of postern is left.
source "$(dirname "$0")/lib.sh"
require_root
make_topology
make_pki
ip -n "$NS_LAPTOP" -6 addr add fd00:200::1/64 dev "$VETH_LAPTOP" nodad
ip -n "$NS_SITE" -6 addr add fd00:200::2/64 dev "$VETH_SITE" nodad
ip -n "$NS_SITE" -6 addr add 2001:db8:99::1/128 dev lo
ip -n "$NS_LAPTOP" -6 route add default via fd00:200::2 dev "$VETH_LAPTOP"
ip -n "$NS_LAPTOP" route add default via 10.200.0.2 dev "$VETH_LAPTOP"
SITE_LL=$(ip -n "$NS_SITE" -6 -o addr show dev "$VETH_SITE" scope link | awk '{print $4}' | cut -d/ -f1)
[ -n "$SITE_LL" ] || fail "the site's veth has no link-local address"
wait_for 10 "IPv6 on the link" in_laptop ping -6 -c 1 -W 1 2001:db8:99::1

SITE_ROUTES=', "0.0.0.0/0"' write_server_config "$WORK/site.toml"
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' \
  'leak_protection = true'

v6_rules() { ip -n "$NS_LAPTOP" -6 rule show | grep -E '^327(58|59|60|61|62|63):' || true; }
# Python gives the errno a ping hides: "EACCES" when a prohibit rule refuses the route.
udp6_send() {
  in_laptop python3 - "$1" "$2" <<'PY'
import errno, socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
try:
    s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03org\x00\x00\x01\x00\x01",
             (sys.argv[1], int(sys.argv[2])))
    print("sent")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
PY
}
echo_requests_at_site() { ip netns exec "$NS_SITE" nstat -az Icmp6InEchos | awk '/Icmp6InEchos/ {print $2}'; }

up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
wait_for 10 "default route in table 7073" bash -c "ip -n $NS_LAPTOP route show table 7073 | grep -q '^default dev pst0'"
wait_for 10 "the IPv6 rules" bash -c "ip -n $NS_LAPTOP -6 rule show | grep -q '^32763:'"

# 1. The rules.
v6_rules | tee "$WORK/rules6.txt"
grep -Eq '^32758:[[:space:]]+from all fwmark 0x7073 goto 32762' "$WORK/rules6.txt" || fail "IPv6 rule 32758 missing"
grep -Eq '^32760:[[:space:]]+from all ipproto udp dport 53 prohibit' "$WORK/rules6.txt" || fail "IPv6 DNS (udp) rule missing"
grep -Eq '^32760:[[:space:]]+from all ipproto tcp dport 53 prohibit' "$WORK/rules6.txt" || fail "IPv6 DNS (tcp) rule missing"
grep -Eq '^32762:[[:space:]]+from all lookup main suppress_prefixlength 0' "$WORK/rules6.txt" || fail "IPv6 rule 32762 missing"
grep -Eq '^32763:[[:space:]]+not from all fwmark 0x7073 prohibit' "$WORK/rules6.txt" || fail "IPv6 rule 32763 missing"
[ "$(v6_rules | wc -l)" -eq 5 ] || fail "expected 5 IPv6 rules"
grep -q "ipv6_leak_protection_on" "$WORK/laptop.log" || fail "no 'ipv6_leak_protection_on' in the log"
log "IPv6 rules 32758/32760/32762/32763 in place"

# 2. IPv6 beyond the link is refused at once, and nothing of it reaches the site.
before=$(echo_requests_at_site)
if in_laptop ping -6 -c 2 -i 0.2 -W 1 2001:db8:99::1 >"$WORK/ping6.log" 2>&1; then
  cat "$WORK/ping6.log"; fail "ping6 to 2001:db8:99::1 went around the IPv4-only tunnel"
fi
in_laptop ip -6 route get 2001:db8:99::1 >"$WORK/route6.txt" 2>&1 || true
grep -qi "permission denied\|prohibit" "$WORK/route6.txt" || { cat "$WORK/route6.txt"; fail "ip -6 route get does not show the prohibit"; }
[ "$(udp6_send 2001:db8:99::1 9)" = EACCES ] || fail "a UDP datagram to 2001:db8:99::1 was not refused with EACCES"
after=$(echo_requests_at_site)
[ "$before" = "$after" ] || fail "the site received $((after - before)) IPv6 echo requests while blocked"
log "ping6 2001:db8:99::1 refused (EACCES), the site saw no echo request"

# 3. The link keeps working (on-link prefix, link-local + neighbour discovery, main's default stays).
in_laptop ping -6 -c 2 -i 0.2 -W 2 fd00:200::2 >>"$WORK/ping6.log" || fail "ping6 to the on-link fd00:200::2"
in_laptop ip neigh flush dev "$VETH_LAPTOP"
in_laptop ping -6 -c 2 -i 0.2 -W 2 "$SITE_LL%$VETH_LAPTOP" >>"$WORK/ping6.log" || fail "ping6 to the site's link-local address"
ip -n "$NS_LAPTOP" -6 route show table main | grep -q '^default via fd00:200::2' || fail "main's IPv6 default route was touched"
log "on-link and link-local IPv6 still work"

# 4. IPv6 DNS is refused even to a resolver on the link; IPv6 to other ports on the link is not.
[ "$(udp6_send fd00:200::2 53)" = EACCES ] || fail "an IPv6 DNS query to fd00:200::2 was not refused"
[ "$(udp6_send fd00:200::2 5353)" = sent ] || fail "UDP to fd00:200::2 port 5353 should pass"
log "IPv6 DNS refused, other on-link IPv6 passes"

# 5. IPv4 goes through the tunnel (the pushed default), as before.
in_laptop ping -c 2 -i 0.2 -W 2 10.77.0.1 >/dev/null || fail "ping through the tunnel"
route_dev=$(in_laptop ip -4 route get 198.51.100.7 | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n 1)
[ "$route_dev" = pst0 ] || fail "IPv4 to the internet does not enter the tunnel (dev $route_dev)"

# 6. A clean stop removes the IPv6 rules; IPv6 goes out natively again.
kill -TERM "$CLIENT_PID"; wait "$CLIENT_PID" 2>/dev/null || true
[ -z "$(v6_rules)" ] || { v6_rules; fail "IPv6 rules left after a clean stop"; }
in_laptop ping -6 -c 1 -W 2 2001:db8:99::1 >/dev/null || fail "ping6 after the client stopped"
log "clean stop: no IPv6 rule left"

# 7. leak_protection_ipv6 = "allow": no IPv6 rule, ping6 goes out natively beside the tunnel.
write_client_config "$WORK/laptop_allow.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' \
  'leak_protection = true' 'leak_protection_ipv6 = "allow"'
start_client "$WORK/laptop_allow.toml" laptop_allow
wait_for 15 "the tunnel again" bash -c "ip -n $NS_LAPTOP route show table 7073 | grep -q '^default dev pst0'"
in_laptop ping -c 1 -W 2 10.77.0.1 >/dev/null || fail "ping through the tunnel (allow)"
[ -z "$(v6_rules)" ] || { v6_rules; fail "IPv6 rules with leak_protection_ipv6 = allow"; }
in_laptop ping -6 -c 2 -i 0.2 -W 2 2001:db8:99::1 >/dev/null || fail "ping6 with leak_protection_ipv6 = allow"
log "allow: ping6 goes out natively, no IPv6 rule"
log "PASS"
