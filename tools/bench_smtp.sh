#!/usr/bin/env bash
# SMTP throughput: postern vs Debian's postfix on the same machine in the same run.
# 4 KB messages, 20 concurrent sessions, plaintext (postfix's smtp-source) and STARTTLS (a
# stdlib Python loader, one TLS session per connection, many messages per session). Both
# servers accept for a local domain and write every message to a Maildir with fsync, so the
# numbers compare durable acceptance + local delivery. Prints messages/s and the ratio.
# The relay row: a second postern with [smtp.relay] pointing at that Postfix (STARTTLS,
# tls = "encrypt"), so client -> postern -> Postfix, against client -> Postfix directly in the
# same run: "relay" is postern's 250 rate (relaying must not make it the bottleneck), and
# "relay-drain" the rate until Postfix has delivered the last relayed message.
# Not a test. Needs root (installs postfix with apt-get if missing, runs it on 127.0.0.1).
#   tools/bench_smtp.sh [path/to/postern]   (default: build/*/tools/postern/postern)
# Environment: MESSAGES (default 4000 per run), SESSIONS (20), SIZE (4096).
set -euo pipefail

MESSAGES=${MESSAGES:-4000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-4096}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
POSTERN=${1:-${POSTERN_BIN:-$(ls -t "$ROOT"/build/*/tools/postern/postern 2>/dev/null | head -1)}}
[[ -x "$POSTERN" ]] || { echo "postern binary not found; pass its path" >&2; exit 1; }

WORK=$(mktemp -d /var/tmp/bench-smtp.XXXXXX)
chmod 755 "$WORK"  # postfix daemons run as postfix/nobody and must traverse it
POSTERN_PID=""
RELAY_PID=""
cleanup() {
  [[ -n "$POSTERN_PID" ]] && kill "$POSTERN_PID" 2>/dev/null || true
  [[ -n "$RELAY_PID" ]] && kill "$RELAY_PID" 2>/dev/null || true
  postfix -c "$WORK/postfix" stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

install_postfix() {
  command -v smtp-source >/dev/null && [[ -x /usr/sbin/postfix ]] && return
  echo "installing postfix..." >&2
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null
}

make_pki() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 2 -subj /CN=mail.test 2>/dev/null
}

start_postern() {
  PORT_POSTERN=$(free_port)
  cat > "$WORK/postern.toml" <<EOF
[smtp]
listen = ["127.0.0.1:$PORT_POSTERN starttls"]
hostname = "mail.test"
certificate = "$WORK/cert.pem"
private_key = "$WORK/key.pem"
spool = "$WORK/postern-spool"
maildir = "$WORK/postern-maildir"
domains = ["example.org"]
trusted_networks = ["127.0.0.0/8"]
max_connections_per_ip = 1000
max_connections = 1000
[daemon]
user = "root"
group = "root"
status_socket = "$WORK/postern.sock"
EOF
  "$POSTERN" server -c "$WORK/postern.toml" >"$WORK/postern.log" 2>&1 &
  POSTERN_PID=$!
  wait_port "$PORT_POSTERN"
}

# A postern whose only route for example.org is the relay: the Postfix below.
start_relay_postern() {
  PORT_RELAY=$(free_port)
  cat > "$WORK/relay.toml" <<EOF
[smtp]
listen = ["127.0.0.1:$PORT_RELAY starttls"]
hostname = "relay.test"
certificate = "$WORK/cert.pem"
private_key = "$WORK/key.pem"
spool = "$WORK/relay-spool"
maildir = "$WORK/relay-maildir"
domains = ["relay.test"]
trusted_networks = ["127.0.0.0/8"]
max_connections_per_ip = 1000
max_connections = 1000
messages_per_hour = 0
recipients_per_hour = 0
[smtp.relay]
hosts = ["127.0.0.1:$PORT_POSTFIX"]
tls = "encrypt"
[daemon]
user = "root"
group = "root"
status_socket = "$WORK/relay.sock"
EOF
  "$POSTERN" server -c "$WORK/relay.toml" >"$WORK/relay.log" 2>&1 &
  RELAY_PID=$!
  wait_port "$PORT_RELAY"
}

postfix_delivered() { find "$WORK/postfix-maildir" -type f \( -path '*/new/*' -o -path '*/cur/*' \) | wc -l; }

# A private postfix instance (own config and queue directories), virtual Maildir delivery.
start_postfix() {
  PORT_POSTFIX=$(free_port)
  local cfg="$WORK/postfix"
  mkdir -p "$cfg" "$WORK/postfix-queue" "$WORK/postfix-data" "$WORK/postfix-maildir"
  chown postfix "$WORK/postfix-data"
  chmod 1777 "$WORK/postfix-maildir"
  cp /etc/postfix/master.cf "$cfg/master.cf"
  sed -i "s/^smtp\s\+inet/$PORT_POSTFIX inet/" "$cfg/master.cf"
  cat > "$cfg/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $WORK/postfix-queue
data_directory = $WORK/postfix-data
myhostname = bench.postfix.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = example.org
virtual_mailbox_base = $WORK/postfix-maildir
virtual_mailbox_maps = static:box/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
smtpd_tls_cert_file = $WORK/cert.pem
smtpd_tls_key_file = $WORK/key.pem
smtpd_tls_security_level = may
smtpd_client_connection_count_limit = 1000
smtpd_client_message_rate_limit = 0
default_process_limit = 200
maillog_file = $WORK/postfix.log
EOF
  postfix -c "$cfg" check >/dev/null 2>&1 || true
  postfix -c "$cfg" start >/dev/null
  wait_port "$PORT_POSTFIX"
}

wait_port() {
  for _ in $(seq 100); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2; exit 1
}

# messages/s for smtp-source (plaintext, one message per session, like Postfix's own benches).
bench_plain() {
  local port=$1 start end
  start=$(date +%s.%N)
  smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f bench@example.org -t box@example.org \
    "127.0.0.1:$port"
  end=$(date +%s.%N)
  python3 -c "print(round($MESSAGES / ($end - $start)))"
}

bench_starttls() {
  python3 - "$1" "$MESSAGES" "$SESSIONS" "$SIZE" <<'PY'
import smtplib, ssl, sys, threading, time
port, total, sessions, size = (int(a) for a in sys.argv[1:5])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
line = b"x" * 76 + b"\r\n"
body = b"Subject: bench\r\n\r\n" + line * (size // len(line))
errors = []
def worker(n):
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=60)
        s.starttls(context=ctx)
        for _ in range(n):
            s.sendmail("bench@example.org", ["box@example.org"], body)
        s.quit()
    except Exception as e:
        errors.append(e)
threads = [threading.Thread(target=worker, args=(total // sessions,)) for _ in range(sessions)]
start = time.time()
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.time() - start
if errors: print("errors:", errors[:3], file=sys.stderr); sys.exit(1)
print(round(total // sessions * sessions / elapsed))
PY
}

install_postfix
make_pki
start_postern
start_postfix
echo "$MESSAGES messages of $SIZE bytes, $SESSIONS concurrent sessions" >&2

p_plain=$(bench_plain "$PORT_POSTERN"); f_plain=$(bench_plain "$PORT_POSTFIX")
p_tls=$(bench_starttls "$PORT_POSTERN"); f_tls=$(bench_starttls "$PORT_POSTFIX")

start_relay_postern
sleep 2  # let Postfix finish delivering the direct runs
before=$(postfix_delivered)
start=$(date +%s.%N)
r_plain=$(bench_plain "$PORT_RELAY")
for _ in $(seq 1200); do
  [[ $(( $(postfix_delivered) - before )) -ge $MESSAGES ]] && break
  sleep 0.1
done
end=$(date +%s.%N)
relayed=$(( $(postfix_delivered) - before ))
r_drain=$(python3 -c "print(round($relayed / ($end - $start)))")

printf "%-10s %12s %12s %8s\n" mode "postern/s" "postfix/s" ratio
printf "%-10s %12s %12s %8s\n" plaintext "$p_plain" "$f_plain" "$(python3 -c "print(round($p_plain/$f_plain,2))")"
printf "%-10s %12s %12s %8s\n" starttls "$p_tls" "$f_tls" "$(python3 -c "print(round($p_tls/$f_tls,2))")"
printf "%-11s %11s %12s %8s   (client -> postern -> Postfix vs client -> Postfix)\n" relay "$r_plain" "$f_plain" \
  "$(python3 -c "print(round($r_plain/$f_plain,2))")"
printf "%-11s %11s %12s %8s   (until Postfix delivered all %s relayed)\n" relay-drain "$r_drain" "$f_plain" \
  "$(python3 -c "print(round($r_drain/$f_plain,2))")" "$relayed"
echo "(accepted = 250 received; postfix delivers asynchronously, postern too)" >&2
