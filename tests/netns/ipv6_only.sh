#!/usr/bin/env bash
# Issue 13, IPv6 all the way: an IPv6-only underlay (the veth has IPv6 addresses only, the client's
# `server` is the server's IPv6 literal) carrying a dual-stack tunnel (pool and pool6). Then:
#   - the session has its inner IPv4 and IPv6 addresses and runs on UDP over IPv6;
#   - ping and ping6 to the server's inner addresses answer;
#   - a 50 MB TCP transfer over inner IPv6 arrives with the SHA-256 it was sent with, while
#     `postern capture` on the laptop's outer interface sees only GRE-in-UDP and the control
#     channel's TLS, both over IPv6 (plus neighbour discovery): no inner packet leaves in clear;
#   - mail submitted (python smtplib, STARTTLS) to the server's inner IPv6 address [fd00:77::1]:587
#     is delivered to the Maildir.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_ipv6.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"
make_topology_v6
make_pki_v6
SITE_ROUTES=', "fd00:77::/112"' write_server_config "$WORK/site.toml" 'pool6 = "fd00:77::/112"'
set_listen "$WORK/site.toml" "[$SITE6]:1723"
append_smtp_config "$WORK/site.toml"
sed -i 's|^listen = \["10.77.0.1:587 starttls"\]|listen = ["[fd00:77::1]:587 starttls"]|' "$WORK/site.toml"
grep -q 'fd00:77::1\]:587' "$WORK/site.toml" || fail "could not put the IPv6 listener into the config"
CLIENT_SERVER="[$SITE6]:1723" write_client_config "$WORK/laptop.toml" \
  'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
in_laptop ip -4 addr show | grep -q 'inet 10\.200' && fail "the laptop has an IPv4 underlay address"

up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
wait_for_log 10 "$WORK/laptop.log" "session_up.*data=\\[$SITE6\\]:1723"
wait_for 10 "the laptop's inner IPv6 address" bash -c "ip -n $NS_LAPTOP -6 addr show dev pst0 | grep -q 'inet6 fd00:77::2/112'"
log "laptop $LAPTOP_ADDRESS and fd00:77::2 over UDP to [$SITE6]:1723"

in_laptop ping -c 2 -i 0.2 -W 2 10.77.0.1 >"$WORK/ping.log" || fail "ping 10.77.0.1"
in_laptop ping -6 -c 2 -i 0.2 -W 2 fd00:77::1 >>"$WORK/ping.log" || fail "ping6 fd00:77::1"
log "ping 10.77.0.1 and ping6 fd00:77::1 answer"

start_capture "$NS_LAPTOP" "$VETH_LAPTOP" "$WORK/capture.json" --leak-check "MARK6ONLY-$$"
in_site timeout 60 python3 "$(dirname "$0")/transfer.py" recv 5001 fd00:77::1 >"$WORK/recv.out" 2>&1 &
RECV_PID=$!
PIDS+=($RECV_PID)
wait_for 5 "receiver" grep -q listening "$WORK/recv.out"
in_laptop timeout 60 python3 "$(dirname "$0")/transfer.py" send fd00:77::1 5001 50 "MARK6ONLY-$$" >"$WORK/send.out" ||
  fail "50 MB transfer over inner IPv6"
wait "$RECV_PID" || true
stop_capture
sent=$(cat "$WORK/send.out"); received=$(tail -n 1 "$WORK/recv.out")
[ "$sent" = "$received" ] || fail "SHA-256 mismatch over inner IPv6: sent $sent received $received"
log "50 MB over inner IPv6: $received"
MIN_DATA=200 capture_check "$WORK/capture.json" || fail "capture: not only GRE-in-UDP over IPv6 (see above)"
python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["summary"]["leak_check"]; assert c["checked"] and not c["leaks"], c' \
  "$WORK/capture.json" || fail "the transfer's marker is readable on the outer interface"
log "capture: only sealed traffic over IPv6"

wait_for 10 "the IPv6 SMTP listener" in_laptop python3 -c "import socket; socket.create_connection(('fd00:77::1', 587), 2)"
in_laptop python3 - "$WORK/pki/ca.pem" >"$WORK/smtp6.log" 2>&1 <<'PY' || fail "submission over inner IPv6: $(tail -n 3 "$WORK/smtp6.log")"
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.check_hostname = False  # the certificate names the outer addresses; the chain is verified
s = smtplib.SMTP("fd00:77::1", 587, local_hostname="laptop.test", timeout=20)
s.ehlo(); s.starttls(context=ctx); s.ehlo()
s.sendmail("laptop@example.test", ["alice@example.test"],
           "From: <laptop@example.test>\r\nTo: <alice@example.test>\r\nSubject: IPv6 all the way\r\n\r\nhello\r\n")
s.quit()
print("accepted")
PY
wait_for 15 "delivery to the Maildir" bash -c "grep -rqs 'IPv6 all the way' '$WORK/maildir'"
log "mail to [fd00:77::1]:587 delivered"
log "PASS"
