#!/usr/bin/env bash
# Inner IPv6 over an IPv4 underlay (issue 13 item 1): the server has pool6 = fd00:77::/112 and
# pushes fd00:77::/112 and an IPv6 default route (::/0) besides its IPv4 routes; the laptop runs
# with leak_protection = true and has native IPv6 of its own (fd00:200::1/64 on the veth, an
# IPv6 default route via the site, as SLAAC would give it). Checked:
#   - the laptop gets 10.77.0.x and fd00:77::2 (not tentative) on pst0, the server fd00:77::1;
#   - ping to 10.77.0.1 and ping6 to fd00:77::1 through the tunnel;
#   - ping6 to a host beyond the site (2001:db8:50::2 in the site LAN, which knows the way back
#     to the pool6 only, not to the laptop's native prefix) answers: it went through the tunnel
#     (the IPv6 default route in table 7073 beats the native one; `ip -6 route get` says pst0);
#   - a 50 MB TCP transfer over inner IPv6 to [fd00:77::1]:5001 with matching SHA-256;
#   - mail submitted with python smtplib to the SMTP listener on [fd00:77::1]:587 (STARTTLS),
#     authenticated by the tunnel identity of the laptop's inner IPv6 address, is delivered;
#   - the spoofed-source drop counter stays 0 for all this, and after a clean stop no IPv6 rule
#     of postern is left;
#   - without leak protection the pool6 still goes through the tunnel and the pushed ::/0 is
#     skipped (the laptop's native IPv6 default route stays); with ipv6 = false (an older
#     client's request) the session is IPv4 only.
source "$(dirname "$0")/lib.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"
WITH_LAN=1 make_topology
make_pki
# Native IPv6 on the laptop's link, and an IPv6 site LAN that routes only pool6 back to the site.
ip -n "$NS_LAPTOP" -6 addr add fd00:200::1/64 dev "$VETH_LAPTOP" nodad
ip -n "$NS_SITE" -6 addr add fd00:200::2/64 dev "$VETH_SITE" nodad
ip -n "$NS_LAPTOP" -6 route add default via fd00:200::2 dev "$VETH_LAPTOP"
ip -n "$NS_SITE" -6 addr add 2001:db8:50::1/64 dev "${ID}c" nodad
ip -n "$NS_LAN" -6 addr add 2001:db8:50::2/64 dev "${ID}d" nodad
ip -n "$NS_LAN" -6 route add fd00:77::/112 via 2001:db8:50::1
in_site sysctl -qw net.ipv6.conf.all.forwarding=1

SITE_ROUTES=', "192.168.50.0/24", "fd00:77::/112", "::/0"' write_server_config "$WORK/site.toml" 'pool6 = "fd00:77::/112"'
append_smtp_config "$WORK/site.toml"
sed -i 's|^listen = \["10.77.0.1:587 starttls"\]|listen = ["10.77.0.1:587 starttls", "[fd00:77::1]:587 starttls"]|' "$WORK/site.toml"
grep -q 'fd00:77::1\]:587' "$WORK/site.toml" || fail "could not put the IPv6 listener into the config"
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' \
  'leak_protection = true'

up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
wait_for 10 "laptop inner IPv6 address" bash -c "ip -n $NS_LAPTOP -6 addr show dev pst0 | grep -q 'inet6 fd00:77::'"
ip -n "$NS_LAPTOP" -6 addr show dev pst0 >"$WORK/addr6.txt"
grep -q 'inet6 fd00:77::2/112' "$WORK/addr6.txt" || { cat "$WORK/addr6.txt"; fail "laptop did not get fd00:77::2/112"; }
if grep -q tentative "$WORK/addr6.txt"; then cat "$WORK/addr6.txt"; fail "the inner IPv6 address is tentative (no NODAD)"; fi
ip -n "$NS_SITE" -6 addr show dev pst0 | grep -q 'inet6 fd00:77::1/112' || fail "server TUN has no fd00:77::1/112"
grep -q 'address6=fd00:77::2' "$WORK/server.log" || fail "server log does not show the IPv6 address"
log "laptop $LAPTOP_ADDRESS and fd00:77::2, server fd00:77::1"

# 1. Pings, both families, to the server's inner addresses.
in_laptop ping -c 2 -i 0.2 -W 2 10.77.0.1 >"$WORK/ping.log" || fail "ping 10.77.0.1"
in_laptop ping -6 -c 3 -i 0.2 -W 2 fd00:77::1 >>"$WORK/ping.log" || fail "ping6 to the server's inner IPv6 address"
log "ping 10.77.0.1 and ping6 fd00:77::1 ok"

# 2. IPv6 beyond the site goes through the tunnel (the LAN host can only answer that way).
in_laptop ip -6 route get 2001:db8:50::2 >"$WORK/route6.txt" 2>&1 || true
grep -q "dev pst0" "$WORK/route6.txt" || { cat "$WORK/route6.txt"; fail "IPv6 to 2001:db8:50::2 is not routed into the tunnel"; }
in_laptop ping -6 -c 3 -i 0.2 -W 2 2001:db8:50::2 >>"$WORK/ping.log" || fail "ping6 2001:db8:50::2 through the tunnel"
ip -n "$NS_LAPTOP" -6 rule show | grep -Eq '^32763:[[:space:]]+not from all fwmark 0x7073 lookup 7073' ||
  { ip -n "$NS_LAPTOP" -6 rule show; fail "no IPv6 rule sending unmarked IPv6 to table 7073"; }
log "ping6 2001:db8:50::2 (site LAN) went through the tunnel"

# 3. 50 MB over inner IPv6.
in_site timeout 60 python3 "$(dirname "$0")/transfer.py" recv 5001 fd00:77::1 >"$WORK/recv.out" 2>&1 &
RECV_PID=$!
PIDS+=($RECV_PID)
wait_for 5 "receiver" grep -q listening "$WORK/recv.out"
in_laptop timeout 60 python3 "$(dirname "$0")/transfer.py" send fd00:77::1 5001 50 "MARK6-$$" >"$WORK/send.out" ||
  fail "50 MB transfer over inner IPv6"
wait "$RECV_PID" || true
sent=$(cat "$WORK/send.out"); received=$(tail -n 1 "$WORK/recv.out")
log "sent     $sent"
log "received $received"
[ "$sent" = "$received" ] || fail "SHA-256 mismatch over inner IPv6: sent $sent received $received"

# 4. Mail to the server's inner IPv6 address.
wait_for 10 "the IPv6 SMTP listener" in_laptop python3 -c "import socket; socket.create_connection(('fd00:77::1', 587), 2)"
in_laptop python3 - "$WORK/pki/ca.pem" >"$WORK/smtp6.log" 2>&1 <<'PY' || fail "submission over inner IPv6: $(tail -n 3 "$WORK/smtp6.log")"
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.check_hostname = False  # the certificate names the outer address 10.200.0.2; the chain is verified
s = smtplib.SMTP("fd00:77::1", 587, local_hostname="laptop.test", timeout=20)
s.ehlo(); s.starttls(context=ctx); s.ehlo()
print("peer", s.sock.getpeername()[0])
s.sendmail("laptop@example.test", ["alice@example.test"],
           "From: <laptop@example.test>\r\nTo: <alice@example.test>\r\nSubject: over inner IPv6\r\n\r\nhello v6\r\n")
s.quit()
print("accepted")
PY
grep -q accepted "$WORK/smtp6.log" || fail "message not accepted"
wait_for 15 "delivery to the Maildir" bash -c "grep -rqs 'over inner IPv6' '$WORK/maildir'"
log "mail submitted to [fd00:77::1]:587 delivered"

# 5. Nothing of it was a spoofed source; a clean stop leaves no IPv6 rule behind.
"$POSTERN_BIN" status --socket "$WORK/server.sock" --json >"$WORK/status.json" 2>&1 || fail "postern status"
python3 - "$WORK/status.json" <<'PY' || fail "spoofed-source drops at the server"
import json, sys
doc = json.load(open(sys.argv[1]))
def find(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k == "rx_spoofed_source":
                return v
            r = find(v)
            if r is not None:
                return r
    if isinstance(o, list):
        for v in o:
            r = find(v)
            if r is not None:
                return r
    return None
n = find(doc)
if n is None:
    sys.exit("no rx_spoofed_source in the status")
if n != 0:
    sys.exit(f"rx_spoofed_source = {n}")
PY
kill "$CLIENT_PID"
wait "$CLIENT_PID" 2>/dev/null || true
left=$(ip -n "$NS_LAPTOP" -6 rule show | grep -cE '^327(58|59|60|61|62|63):' || true)
[ "$left" -eq 0 ] || fail "$left IPv6 rules left after the client stopped"
log "clean stop: no IPv6 rule left"

# 6. Without leak protection: the IPv6 routes go into main, the pushed ::/0 is skipped (it would
#    replace the laptop's own IPv6 default route), the pool6 itself still goes through the tunnel.
wait_for 10 "the old tunnel device to go" bash -c "! ip -n $NS_LAPTOP link show pst0"
write_client_config "$WORK/plain.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
start_client "$WORK/plain.toml" plain
wait_for 15 "laptop inner IPv6 address (no leak protection)" \
  bash -c "ip -n $NS_LAPTOP -6 addr show dev pst0 | grep -q 'inet6 fd00:77::2/112'"
in_laptop ip -6 route get fd00:77::1 | grep -q "dev pst0" || fail "pool6 is not routed into the tunnel"
in_laptop ping -6 -c 2 -i 0.2 -W 2 fd00:77::1 >>"$WORK/ping.log" || fail "ping6 fd00:77::1 without leak protection"
wait_for_log 5 "$WORK/plain.log" 'default_route_ignored.*route=::/0'
ip -n "$NS_LAPTOP" -6 route show table main | grep -q '^default via fd00:200::2' || fail "main's IPv6 default route was replaced"
if ip -n "$NS_LAPTOP" -6 route show table main | grep -q '^default dev pst0'; then fail "::/0 was installed in main"; fi
log "without leak protection: pool6 through the tunnel, ::/0 skipped, the native default kept"
kill "$CLIENT_PID"
wait "$CLIENT_PID" 2>/dev/null || true

# 7. A client that does not ask (ipv6 = false, what an older client does) gets IPv4 only.
wait_for 10 "the old tunnel device to go" bash -c "! ip -n $NS_LAPTOP link show pst0"
write_client_config "$WORK/v4only.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' 'ipv6 = false'
start_client "$WORK/v4only.toml" v4only
wait_for 15 "laptop tunnel address (ipv6 = false)" bash -c "ip -n $NS_LAPTOP -4 addr show dev pst0 | grep -q 'inet 10.77.0.'"
in_laptop ping -c 1 -W 2 10.77.0.1 >>"$WORK/ping.log" || fail "ping 10.77.0.1 with ipv6 = false"
if ip -n "$NS_LAPTOP" -6 addr show dev pst0 | grep -q 'inet6 fd00:77::'; then fail "an IPv6 address without asking"; fi
wait_for_log 5 "$WORK/server.log" 'session_up.*address6=none'
log "ipv6 = false: IPv4 only, the server pushed no IPv6"
log "PASS"
