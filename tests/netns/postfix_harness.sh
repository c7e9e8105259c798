#!/usr/bin/env bash
# Issue 8 groundwork: the real-Postfix harness (tests/netns/postfix.sh) does what the relay tests
# will rely on, with swaks and openssl s_client standing in for postern (no postern needed):
#  - Postfix in the LAN namespace (192.168.50.2:25), test-CA certificate for mx.site.test,
#    SASL required: a STARTTLS + AUTH PLAIN submission from the site namespace is delivered to
#    partner's Maildir identical to what was sent apart from trace headers, and the maillog
#    shows the TLS connection and the SASL login;
#  - without AUTH the recipient is refused; an unknown user gets 550 5.1.1 at RCPT; the
#    access-map recipients get their configured 5xx and 4xx; no relaying without AUTH, and
#    nothing leaves this MTA even with AUTH (550 at RCPT);
#  - the certificate verifies for mx.site.test against the test CA; a second instance offers
#    no STARTTLS, a third presents a certificate for another host;
#  - pf_stop: connections are refused; pf_start: accepted again, and mail is delivered again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postfix.sh"
require_root
for tool in postfix saslpasswd2 swaks openssl; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (tools/bootstrap.sh installs it)"
done
WITH_LAN=1 make_topology
MX=192.168.50.2

pf_make_ca "$WORK/ca"
pf_make_cert "$WORK/ca" mx mx.site.test "$MX"
pf_make_cert "$WORK/ca" other other.example
pf_create mx "$NS_LAN" "$MX" --tls "$WORK/ca/mx.pem" "$WORK/ca/mx.key" \
  --sasl postern "relay secret 7" --require-auth --mailbox partner --mailbox second \
  --refuse refused@elsewhere.example "550 5.7.1 refused by the test access map" \
  --refuse later@elsewhere.example "451 4.7.1 try again later"
pf_create plain "$NS_LAN" "$MX" --port 2525 --hostname plain.site.test
pf_create other "$NS_LAN" "$MX" --port 2526 --hostname mx.site.test \
  --tls "$WORK/ca/other.pem" "$WORK/ca/other.key"
pf_start mx
pf_start plain
pf_start other
log "three Postfix instances up in $NS_LAN (ports 25, 2525, 2526)"

# swaks_mx ARGS...: one session from the site namespace to the mx instance
swaks_mx() {
  in_site swaks --server "$MX" --port 25 --ehlo vpn.site.test --from laptop@example.test \
    --timeout 10 "$@"
}
AUTH=(--tls --auth PLAIN --auth-user postern --auth-password "relay secret 7")

# --- delivery, byte for byte apart from trace headers -----------------------------------------
cat >"$WORK/message.eml" <<'EOF'
From: Laptop User <laptop@example.test>
To: Partner <partner@elsewhere.example>
Subject: harness check
Date: Mon, 30 Nov 2026 10:00:00 +0000
Message-ID: <harness-1@example.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii
X-Folded: first part
 continued on a folded line

Line one.
.a line that starts with a dot (dot-stuffed on the wire)
..two dots
trailing spaces   
	a tab
EOF
head -c 3000 /dev/urandom | base64 -w 76 >>"$WORK/message.eml"
# swaks ends DATA with CRLF "." CRLF after the data as given, so a final newline in its file
# would arrive as an extra empty line: hand it the message without one.
head -c -1 "$WORK/message.eml" >"$WORK/message.wire"
swaks_mx --to partner@elsewhere.example "${AUTH[@]}" --data "$WORK/message.wire" \
  >"$WORK/swaks-deliver.log" 2>&1 || fail "submission with STARTTLS + AUTH: $(tail -n 5 "$WORK/swaks-deliver.log")"
pf_wait_delivered mx partner 1 15
file=$(pf_messages mx partner | head -n 1)
pf_strip_trace "$file" >"$WORK/delivered.eml"
cmp -s "$WORK/message.eml" "$WORK/delivered.eml" ||
  fail "delivered message differs from what was sent: $(diff "$WORK/message.eml" "$WORK/delivered.eml" | head -n 10)"
grep -q '^Received: from vpn.site.test' "$file" || fail "no Received header from the submission"
log "delivered to partner's Maildir, identical apart from trace headers"
pf_wait_log mx 5 "Anonymous TLS connection established from unknown\[192\.168\.50\.1\]"
pf_wait_log mx 5 "sasl_method=PLAIN, sasl_username=postern"
pf_log_grep mx "status=sent .*delivered to maildir" || fail "no delivery line in the maillog"
log "maillog shows TLS, the SASL login and the delivery"

# --- refusals ----------------------------------------------------------------------------------
# expect_rcpt_refused NAME CODE-REGEX SWAKS-ARGS...: the session must fail with that RCPT reply
expect_rcpt_refused() {
  local name=$1 code=$2; shift 2
  if swaks_mx "$@" --quit-after RCPT >"$WORK/swaks-$name.log" 2>&1; then
    fail "$name: the recipient was accepted"
  fi
  grep -Eq "^<[~*]\* +$code" "$WORK/swaks-$name.log" ||
    fail "$name: expected $code, got: $(grep -E '^<[~*]\*' "$WORK/swaks-$name.log")"
  log "$name: $(grep -E '^<[~*]\*' "$WORK/swaks-$name.log" | head -n 1 | cut -c1-90)"
}
expect_rcpt_refused unknown "550 5\.1\.1" --to nobody@elsewhere.example "${AUTH[@]}"
expect_rcpt_refused access-5xx "550 5\.7\.1 .*refused by the test access map" --to refused@elsewhere.example "${AUTH[@]}"
expect_rcpt_refused access-4xx "451 4\.7\.1 .*try again later" --to later@elsewhere.example "${AUTH[@]}"
expect_rcpt_refused no-auth "554 5\.7\.1" --to partner@elsewhere.example --tls
expect_rcpt_refused no-relay "554 5\.7\.1 .*Relay access denied" --to someone@far.example --tls
expect_rcpt_refused outbound "550 5\.7\.1 .*delivers only to elsewhere\.example" --to someone@far.example "${AUTH[@]}"

# --- TLS variants --------------------------------------------------------------------------
# s_client_verify PORT: the verification result for mx.site.test against the test CA
s_client_verify() {
  in_site timeout 10 openssl s_client -connect "$MX:$1" -starttls smtp -CAfile "$WORK/ca/ca.pem" \
    -verify_hostname mx.site.test </dev/null 2>&1 | grep -E "Verify return code" | head -n 1
}
result=$(s_client_verify 25)
[[ $result == *"code: 0 (ok)"* ]] || fail "mx certificate does not verify for mx.site.test: $result"
result=$(s_client_verify 2526)
[[ $result == *"hostname mismatch"* ]] || fail "the other-host certificate verified: $result"
log "certificates: mx verifies as mx.site.test; 'other' is a hostname mismatch"
in_site swaks --server "$MX" --port 2525 --ehlo vpn.site.test --quit-after EHLO >"$WORK/swaks-plain.log" 2>&1 ||
  fail "EHLO to the plain instance: $(tail -n 3 "$WORK/swaks-plain.log")"
grep -q '^<-  250' "$WORK/swaks-plain.log" || fail "no EHLO reply from the plain instance"
if grep -q STARTTLS "$WORK/swaks-plain.log"; then fail "the plain instance offers STARTTLS"; fi
grep -q STARTTLS "$WORK/swaks-deliver.log" || fail "the mx instance did not offer STARTTLS"
log "plain instance offers no STARTTLS"

# --- stop and start ------------------------------------------------------------------------
pf_stop mx
pf_refuses mx || fail "connections still accepted after pf_stop"
if swaks_mx --to partner@elsewhere.example "${AUTH[@]}" >"$WORK/swaks-down.log" 2>&1; then
  fail "a submission succeeded while Postfix was stopped"
fi
log "stopped: connection refused"
pf_start mx
swaks_mx --to second@elsewhere.example "${AUTH[@]}" --header "Subject: after restart" \
  >"$WORK/swaks-again.log" 2>&1 || fail "submission after pf_start: $(tail -n 5 "$WORK/swaks-again.log")"
pf_wait_delivered mx second 1 15
[ "$(pf_messages mx partner | wc -l)" -eq 1 ] || fail "partner's mailbox changed"
log "started again: accepted and delivered"
log "PASS"
