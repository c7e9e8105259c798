#!/usr/bin/env bash
# `postern check-config` runs the server's start-up checks and `postern server` refuses with the
# same words (tools/postern/preflight.cpp, docs/configuration.md): each misconfiguration below is
# refused by both, naming file:line, section, key and the fix, and the fixed file passes.
#   1. [tunnel] users names a file that does not exist (the quick start's old trap);
#   2. the users file exists but is root:root 0600 while the daemon runs as nobody: SIGHUP
#      could not re-read it (fixed by chgrp nogroup + 0640);
#   3. [tunnel] listen on an address this host does not have (a placeholder used literally);
#   4. an address in use: a warning for check-config (the live daemon may hold it), an error for
#      the server;
#   5. --syntax-only opens nothing.
# Root only (chgrp, and the server starts as root to drop to nobody); exit 77 otherwise.
set -euo pipefail
bin=${POSTERN_BIN:?}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
getent group nogroup >/dev/null || { echo "SKIP: no group nogroup"; exit 77; }
tmp=$(mktemp -d)
holder=""
trap '[ -n "$holder" ] && kill "$holder" 2>/dev/null; rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
cd "$tmp"
fail() { echo "FAIL $*" >&2; exit 1; }
"$bin" pki init pki --server-name 127.0.0.1 >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
write() {  # write LISTEN: a server config (line 2 is listen, line 7 is users)
  cat >site.toml <<CONF
[tunnel]
listen = "$1"
certificate = "pki/server.pem"
private_key = "pki/server.key"
client_ca = "pki/ca.pem"
pool = "10.99.0.0/24"
users = "users.db"
interface = "pstcc$$"

[daemon]
user = "nobody"
status_socket = "$tmp/site.sock"
CONF
}
# expect_refused WHAT REGEX...: check-config and the server both exit 1 and print every REGEX
expect_refused() {
  local what=$1; shift
  local status=0
  "$bin" check-config site.toml >check.out 2>&1 || status=$?
  [ "$status" -eq 1 ] || fail "$what: check-config exit $status: $(cat check.out)"
  status=0
  timeout 10 "$bin" server -c site.toml >server.out 2>&1 || status=$?
  [ "$status" -eq 1 ] || fail "$what: server exit $status: $(cat server.out)"
  grep -q "refusing to start" server.out || fail "$what: server did not say it refuses: $(cat server.out)"
  for regex in "$@"; do
    grep -Eq "$regex" check.out || fail "$what: check-config lacks /$regex/: $(cat check.out)"
    grep -Eq "$regex" server.out || fail "$what: server lacks /$regex/: $(cat server.out)"
  done
  echo "ok   $what: $(head -1 check.out)"
}

write "127.0.0.1:$port"
expect_refused "missing users file" \
  '^site\.toml:7: \[tunnel\] users: .*/users\.db: cannot open: No such file or directory$' \
  '^  fix: create it: `postern user add .*/users\.db NAME`'

printf 'correct horse battery staple\n' | "$bin" user add users.db alice >/dev/null
chown root:root users.db && chmod 600 users.db
expect_refused "users file unreadable by the run-as user" \
  '^site\.toml:7: \[tunnel\] users: the daemon runs as nobody \(group nogroup\) after start and cannot re-read it at SIGHUP: .*/users\.db is root:root mode 0600$' \
  '^  fix: give it to the run-as user.s group: `chgrp nogroup .*/users\.db && chmod 0640 .*/users\.db`'
chgrp nogroup users.db && chmod 640 users.db
"$bin" check-config site.toml >check.out 2>&1 || fail "fixed file refused: $(cat check.out)"
grep -q '^site.toml: ok (server)$' check.out || fail "fixed file: $(cat check.out)"
echo "ok   chgrp nogroup + 0640: $(cat check.out)"

write "203.0.113.7:$port"
expect_refused "listen on an address this host does not have" \
  "^site\.toml:2: \[tunnel\] listen: cannot bind 203\.0\.113\.7:$port \(TCP\): Cannot assign requested address$" \
  '^  fix: 203\.0\.113\.7 is not an address of this host'

write "127.0.0.1:$port"
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); print("ready", flush=True); time.sleep(60)' "$port" >holder.out &
holder=$!
for _ in $(seq 50); do grep -q ready holder.out && break; sleep 0.1; done
"$bin" check-config site.toml >check.out 2>&1 || fail "address in use refused by check-config: $(cat check.out)"
grep -Eq "^site\.toml:2: \[tunnel\] listen: cannot bind 127\.0\.0\.1:$port \(TCP\): Address already in use \(warning\)$" check.out \
  || fail "address in use: no warning: $(cat check.out)"
grep -q '^site.toml: ok (server)$' check.out || fail "address in use: not ok: $(cat check.out)"
echo "ok   address in use: check-config warns and passes"
status=0
timeout 10 "$bin" server -c site.toml >server.out 2>&1 || status=$?
[ "$status" -eq 1 ] && grep -q "Address already in use" server.out && grep -q "ss -lntup" server.out \
  || fail "address in use: server exit $status: $(cat server.out)"
echo "ok   address in use: the server refuses, naming the key and the fix"
kill "$holder"; holder=""

rm users.db
"$bin" check-config --syntax-only site.toml >check.out 2>&1 || fail "--syntax-only opened files: $(cat check.out)"
echo "ok   --syntax-only: $(cat check.out)"
echo PASS
