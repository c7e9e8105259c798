#!/usr/bin/env bash
# [daemon] metrics end to end (docs/operations.md#metrics-prometheus): server (tunnel + [smtp])
# and client in namespaces, each serving Prometheus text on loopback in its namespace, then
#   - a scrape of each before traffic, one in the middle of a 20 MB transfer through the tunnel
#     (the sender pauses after 10 MB with the connection open), and one after the transfer, a
#     garbage TLS handshake and a message submitted through the tunnel and delivered;
#   - the counters moved: packets and bytes both ways on both daemons (the mid-transfer scrape
#     between before and after by at least 10 MB each way), one udp session, the
#     handshake failure by reason "tls", SMTP connection, 2xx replies, message accepted and
#     delivered, spool fsyncs observed;
#   - `promtool check metrics` (Debian prometheus) reports nothing on any of the six scrapes;
#   - check-config reports the metrics address and refuses a non-loopback one; a port already taken fails
#     start-up with an error naming [daemon] metrics.
source "$(dirname "$0")/lib.sh"
require_root
command -v promtool >/dev/null || skip "promtool (Debian package prometheus) is not installed"
command -v curl >/dev/null || skip "curl is not installed"
make_topology
make_pki

printf 'alice@example.test\nlaptop@example.test\n' >"$WORK/recipients.map"
chmod 644 "$WORK/recipients.map"
write_server_config "$WORK/site.toml"
printf 'metrics = "127.0.0.1:9477"\n' >>"$WORK/site.toml"   # [daemon] is last until [smtp] follows
append_smtp_config "$WORK/site.toml" 'recipients = "recipients.map"'
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
printf 'metrics = "127.0.0.1:9478"\n' >>"$WORK/laptop.toml"

# --- refusals -------------------------------------------------------------------------------------
sed 's/^metrics = "127.0.0.1:9477"/metrics = "10.200.0.2:9477"/' "$WORK/site.toml" >"$WORK/public.toml"
if "$POSTERN_BIN" check-config "$WORK/public.toml" >"$WORK/public.out" 2>&1; then
  fail "check-config accepted metrics on 10.200.0.2 without metrics_public"
fi
grep -q '\[daemon\] metrics: "10.200.0.2:9477" is not a loopback address; set metrics_public = true' "$WORK/public.out" \
  || fail "non-loopback refusal does not explain itself: $(cat "$WORK/public.out")"
log "non-loopback refused: $(tail -1 "$WORK/public.out")"

# In the site namespace: check-config also checks that the listen addresses exist there.
in_site "$POSTERN_BIN" check-config "$WORK/site.toml" | grep -q 'ok (server with smtp: 1 listener; metrics on 127.0.0.1:9477)$' \
  || fail "check-config does not report the metrics address: $(in_site "$POSTERN_BIN" check-config "$WORK/site.toml" 2>&1)"

up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
wait_for 10 "the server's metrics endpoint" in_site curl -sf -o /dev/null http://127.0.0.1:9477/metrics
wait_for 10 "the client's metrics endpoint" in_laptop curl -sf -o /dev/null http://127.0.0.1:9478/metrics
grep -q 'metrics_listening.*metrics=127.0.0.1:9477' "$WORK/server.log" || fail "server did not log its metrics address"

# scrape SIDE NAME: the metrics of the server (site) or the client (laptop) into $WORK/NAME.prom
scrape() {
  if [ "$1" = site ]; then in_site curl -sf --max-time 5 http://127.0.0.1:9477/metrics >"$WORK/$2.prom"
  else in_laptop curl -sf --max-time 5 http://127.0.0.1:9478/metrics >"$WORK/$2.prom"; fi
}
# lint NAME: promtool must exit 0 and print nothing
lint() {
  promtool check metrics <"$WORK/$1.prom" >"$WORK/$1.lint" 2>&1 || fail "promtool check metrics failed on $1: $(cat "$WORK/$1.lint")"
  [ ! -s "$WORK/$1.lint" ] || fail "promtool check metrics on $1: $(cat "$WORK/$1.lint")"
}
scrape site site-before || fail "scrape of the server"
scrape laptop laptop-before || fail "scrape of the client"

# --- during a transfer: 10 MB, a pause with the connection open (scraped then), 10 MB more ------
in_site timeout 60 python3 "$(dirname "$0")/transfer.py" recv 5001 >"$WORK/recv.out" 2>&1 &
RECV_PID=$!
PIDS+=($RECV_PID)
wait_for 5 "receiver" grep -q listening "$WORK/recv.out"
in_laptop timeout 60 python3 "$(dirname "$0")/transfer.py" send 10.77.0.1 5001 20 "MARK$$" 10 "$WORK/resume" \
  >"$WORK/send.out" 2>&1 &
SEND_PID=$!
PIDS+=($SEND_PID)
wait_for 20 "the sender to pause after 10 MB" test -e "$WORK/resume.paused"
sleep 0.5   # sendall() returned once the bytes were in the socket buffer: let the tunnel carry them
scrape site site-during || fail "scrape of the server during the transfer"
scrape laptop laptop-during || fail "scrape of the client during the transfer"
touch "$WORK/resume"
wait "$SEND_PID" || fail "transfer did not complete: $(cat "$WORK/send.out")"
wait "$RECV_PID" || true
[ "$(cat "$WORK/send.out")" = "$(tail -n 1 "$WORK/recv.out")" ] \
  || fail "transfer digests differ: sent $(cat "$WORK/send.out"), received $(tail -n 1 "$WORK/recv.out")"
log "20 MB through the tunnel, scraped at 10 MB: $(cat "$WORK/send.out")"

# --- a refused handshake and a message ----------------------------------------------------------
in_laptop bash -c 'exec 3<>/dev/tcp/10.200.0.2/1723; printf "not a TLS ClientHello\r\n\r\n" >&3; sleep 0.5' || true
wait_for_log 10 "$WORK/server.log" 'refused.*TLS handshake failed'
in_laptop python3 - "$WORK/pki/ca.pem" "mx-$$" <<'PY' || fail "SMTP submission through the tunnel"
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.check_hostname = False  # the certificate names the outer address; the chain is verified
s = smtplib.SMTP("10.77.0.1", 587, local_hostname="laptop.test", timeout=20)
s.ehlo(); s.starttls(context=ctx); s.ehlo()
s.sendmail("laptop@example.test", ["alice@example.test"],
           f"From: <laptop@example.test>\r\nTo: <alice@example.test>\r\nSubject: {sys.argv[2]}\r\n\r\nhello\r\n")
s.quit()
PY
wait_for 15 "delivery to alice" bash -c "grep -qsx 'Subject: mx-$$'\$'\\r' '$WORK/maildir/alice@example.test/new/'*"
in_laptop ping -c 3 -i 0.2 -W 2 10.77.0.1 >/dev/null || fail "ping after the transfer"
scrape site site-after || fail "scrape of the server after traffic"
scrape laptop laptop-after || fail "scrape of the client after traffic"

# --- lint every scrape ---------------------------------------------------------------------------
for n in site-before laptop-before site-during laptop-during site-after laptop-after; do lint "$n"; done
log "promtool check metrics: nothing to report on 6 scrapes (before, during the transfer, after; both daemons)"

# --- the counters moved ---------------------------------------------------------------------------
python3 - "$WORK" <<'PY' || fail "metrics check"
import sys
work = sys.argv[1]
def parse(name):
    out = {}
    for line in open(f"{work}/{name}.prom"):
        if line.startswith("#") or not line.strip():
            continue
        key, value = line.rsplit(" ", 1)
        out[key] = float(value)
    return out
sb, sa, lb, la = (parse(n) for n in ("site-before", "site-after", "laptop-before", "laptop-after"))
def moved(before, after, key, at_least=1):
    assert key in after, f"{key} missing"
    delta = after[key] - before.get(key, 0)
    assert delta >= at_least, f"{key}: {before.get(key)} -> {after[key]}, want +{at_least}"
    return delta
for side, b, a in (("server", sb, sa), ("client", lb, la)):
    # 20 MB went laptop -> site: the client sent it (tx), the server received it (rx).
    big = "tx" if side == "client" else "rx"
    moved(b, a, f'postern_tunnel_bytes_total{{direction="{big}"}}', 20 * 1000 * 1000)
    for d in ("rx", "tx"):
        moved(b, a, f'postern_tunnel_packets_total{{direction="{d}"}}', 3)
    assert a['postern_tunnel_sessions{transport="udp"}'] == 1, a['postern_tunnel_sessions{transport="udp"}']
    assert a['postern_tunnel_sessions{transport="tls"}'] == 0
    assert "postern_tunnel_dropped_packets_total{reason=\"rx_bad_header\"}" in a
    print(side, "bytes", {d: a[f'postern_tunnel_bytes_total{{direction="{d}"}}'] for d in ("rx", "tx")})
assert sa["postern_tunnel_sessions_established_total"] == 1
moved(sb, sa, 'postern_tunnel_handshake_failures_total{reason="tls"}')
assert sa['postern_tunnel_handshake_failures_total{reason="certificate"}'] == 0
moved(sb, sa, "postern_smtp_connections_total")
moved(sb, sa, 'postern_smtp_replies_total{class="2xx"}', 5)  # greeting, EHLO x2, STARTTLS, MAIL, RCPT, DATA, QUIT
moved(sb, sa, 'postern_smtp_replies_total{class="3xx"}')     # 354
moved(sb, sa, "postern_smtp_messages_accepted_total")
moved(sb, sa, 'postern_smtp_delivery_outcomes_total{outcome="delivered"}')
moved(sb, sa, "postern_spool_fsync_seconds_count", 2)  # message file, queue directory (+ records)
assert sa['postern_spool_fsync_seconds_bucket{le="+Inf"}'] == sa["postern_spool_fsync_seconds_count"]
assert "postern_smtp_connections_total" not in la, "the client runs no SMTP"
assert "postern_auth_total{result=\"ok\"}" not in la, "the client has no control-side counters"
# During the transfer (paused after 10 MB): at least 10 MB in, at least 10 MB still to come.
MB = 1 << 20
for side, name, d in (("server", "site", "rx"), ("client", "laptop", "tx")):
    key = f'postern_tunnel_bytes_total{{direction="{d}"}}'
    before, during, after = (parse(f"{name}-{when}")[key] for when in ("before", "during", "after"))
    assert before + 10 * MB <= during <= after - 10 * MB, (side, before, during, after)
    print(side, d, "bytes before/during/after:", int(before), int(during), int(after))
print("smtp replies:", {c: sa[f'postern_smtp_replies_total{{class="{c}"}}'] for c in ("2xx", "3xx", "4xx", "5xx")},
      "fsyncs:", sa["postern_spool_fsync_seconds_count"], "sum_s:", sa["postern_spool_fsync_seconds_sum"])
PY
log "counters moved on both daemons"

# --- a taken port fails start-up, naming the key --------------------------------------------------
mkdir -p "$WORK/mailonly"
cat >"$WORK/mailonly.toml" <<CONF
[smtp]
listen = ["10.200.0.2:2525 starttls"]
hostname = "mail.example.test"
certificate = "pki/server.pem"
private_key = "pki/server.key"
spool = "mailonly/spool"
maildir = "mailonly/maildir"
domains = ["example.test"]

[daemon]
status_socket = "$WORK/mailonly.sock"
metrics = "127.0.0.1:9477"
CONF
if in_site timeout 20 "$POSTERN_BIN" server -c "$WORK/mailonly.toml" >"$WORK/mailonly.out" 2>&1; then
  fail "a second daemon started with metrics on a port in use"
fi
grep -q '\[daemon\] metrics: cannot listen on 127.0.0.1:9477' "$WORK/mailonly.out" \
  || fail "bind failure does not name the key: $(tail -3 "$WORK/mailonly.out")"
log "port in use: $(grep -o '\[daemon\] metrics: cannot listen.*' "$WORK/mailonly.out" | head -1)"
log "PASS"
