#!/usr/bin/env bash
# docs/deploying.md, followed as written: its fenced blocks (extracted by doc_blocks.py, not
# retyped here) run in order on two machines, a site namespace whose veth has the page's public
# address 203.0.113.7 and a laptop namespace whose /etc/hosts maps vpn.example.org to it; the run
# ends with the message the page sends in bob's Maildir on the site.
# Each machine has private /etc/postern, /var/spool/postern, /var/mail/postern and /run/postern:
# temp dirs bind-mounted in a mount namespace per command, so the host's files are never
# touched (empty mount points are made, and removed, where the host has none).
# What the page says the test does not do, and why: the `install` blocks (building and installing
# the .deb is tests/tools/test_package.sh's job; here the built binary comes first in PATH and the
# package's own postinst creates the user and the directories) and the `*-systemd` blocks
# (systemd is not PID 1 here; the units are checked by tools_units_script). It carries
# alice-laptop.tar.gz from the site to the laptop, and types alice's password into `user add`.
source "$(dirname "$0")/lib.sh"
require_root
for tool in nft tar unshare adduser; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
PAGE=$(cd "$(dirname "$0")/../.." && pwd)/docs/deploying.md
POSTINST=$(cd "$(dirname "$0")/../.." && pwd)/tools/packaging/debian/postinst

# --- What this test adds to the host, and takes away again ------------------------------------
MOUNT_POINTS=(/etc/postern /var/spool/postern /var/mail/postern /run/postern)
MADE_POINTS=()
MADE_USER=0
if ! getent passwd postern >/dev/null; then MADE_USER=1; fi
deploy_cleanup() {
  local pid
  for ns in "$NS_SITE" "$NS_LAPTOP"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  done
  sleep 0.2
  if [ "$MADE_USER" = 1 ] && getent passwd postern >/dev/null; then
    deluser --system --quiet postern >/dev/null 2>&1 || userdel postern 2>/dev/null || true
    getent group postern >/dev/null && { delgroup --system --quiet postern >/dev/null 2>&1 || groupdel postern 2>/dev/null || true; }
  fi
  for dir in "${MADE_POINTS[@]}"; do rmdir "$dir" 2>/dev/null || true; done
}
trap 'st=$?; deploy_cleanup; (exit $st); cleanup' EXIT
for dir in "${MOUNT_POINTS[@]}"; do
  if [ ! -e "$dir" ]; then mkdir -p "$dir"; MADE_POINTS+=("$dir"); fi
done

# --- Two machines -----------------------------------------------------------------------------
add_ns "$NS_SITE"
add_ns "$NS_LAPTOP"
ip link add "${ID}a" type veth peer name "${ID}b"
ip link set "${ID}a" netns "$NS_LAPTOP"
ip link set "${ID}b" netns "$NS_SITE"
ip -n "$NS_SITE" addr add 203.0.113.7/24 dev "${ID}b"
ip -n "$NS_LAPTOP" addr add 203.0.113.20/24 dev "${ID}a"
ip -n "$NS_SITE" link set "${ID}b" up
ip -n "$NS_LAPTOP" link set "${ID}a" up

mkdir -p "$WORK/bin"
ln -s "$(readlink -f "$POSTERN_BIN")" "$WORK/bin/postern"
for m in site laptop; do
  mkdir -p "$WORK/$m"/{etc,spool,mail,run,home}
  chmod 755 "$WORK/$m"
done
{ cat /etc/hosts; echo "203.0.113.7 vpn.example.org"; } >"$WORK/laptop/hosts"
printf 'correct horse battery staple\n' >"$WORK/password"

# on MACHINE CMD...: CMD in that machine's namespace with its private directories mounted.
on() {
  local m=$1; shift
  ip netns exec "$ID-$m" unshare -m --propagation private -- bash -c '
    set -e
    r=$1; shift
    mount --bind "$r/etc" /etc/postern
    mount --bind "$r/spool" /var/spool/postern
    mount --bind "$r/mail" /var/mail/postern
    mount --bind "$r/run" /run/postern
    if [ -f "$r/hosts" ]; then mount --bind "$r/hosts" /etc/hosts; fi
    cd "$r/home"
    export PATH="$r/../bin:$PATH"
    exec "$@"' _ "$WORK/$m" "$@"
}

for m in site laptop; do
  on "$m" sh "$POSTINST" configure >"$WORK/postinst-$m.log" 2>&1 || fail "postinst on $m"
done
# postinst creates the directories only when missing, and here they are mount points that exist:
# give them the owners and modes postinst gives a fresh machine (tools/packaging/debian/postinst).
for m in site laptop; do
  chown root:postern "$WORK/$m/etc" && chmod 750 "$WORK/$m/etc"
  chown postern:postern "$WORK/$m/spool" "$WORK/$m/mail" && chmod 750 "$WORK/$m/spool" "$WORK/$m/mail"
done

# --- The page, block by block -----------------------------------------------------------------
python3 "$(dirname "$0")/doc_blocks.py" "$PAGE" "$WORK/blocks" >"$WORK/blocks.txt" || fail "cannot read $PAGE"
log "$(wc -l <"$WORK/blocks.txt") blocks from docs/deploying.md"
spool_empty() { [ -z "$(ls -A "$WORK/site/spool/queue" 2>/dev/null)" ]; }

while read -r n machine kind path; do
  block="$WORK/blocks/$n"
  case $kind in
    file)
      log "block $n ($machine): writes $path"
      on "$machine" sh -c 'cat >"$1"' _ "$path" <"$block" || fail "block $n: cannot write $path"
      ;;
    daemon)
      log "block $n ($machine): starts $(head -1 "$block")"
      on "$machine" bash -e "$block" </dev/null >"$WORK/$machine-daemon.log" 2>&1 &
      PIDS+=($!)
      if [ "$machine" = site ]; then
        wait_for 20 "the server's listeners (1723 and the SMTP ports on 10.77.0.1)" \
          sh -c "ip netns exec $NS_SITE ss -Hltn | grep -q '203.0.113.7:1723' &&
                 ip netns exec $NS_SITE ss -Hltn | grep -q '10.77.0.1:587'"
      else
        wait_for 20 "the laptop's tunnel address" sh -c "[ -n \"\$(ip -n $NS_LAPTOP -4 -o addr show dev postern0 2>/dev/null)\" ]"
      fi
      ;;
    run)
      # Carry what the site packed for the laptop, as the page tells the admin to.
      if [ "$machine" = laptop ]; then
        for f in "$WORK"/site/home/*.tar.gz; do [ -e "$f" ] && mv "$f" "$WORK/laptop/home/"; done
      else
        wait_for 10 "the site's queue to drain" spool_empty
      fi
      log "block $n ($machine): $(head -1 "$block")"
      on "$machine" bash -e "$block" <"$WORK/password" >"$WORK/block-$n.out" 2>&1 \
        || { cat "$WORK/block-$n.out" >&2; fail "block $n on $machine failed: $(cat "$block")"; }
      sed 's/^/    /' "$WORK/block-$n.out"
      ;;
  esac
done <"$WORK/blocks.txt"

# --- The outcome ------------------------------------------------------------------------------
new_dir="$WORK/site/mail/bob@example.org/new"
message=$(ls "$new_dir" 2>/dev/null | head -1)
[ -n "$message" ] || fail "no message in bob's Maildir"
grep -q "^Subject: first message through postern" "$new_dir/$message" || fail "the delivered message is not the page's"
grep -q "Hello from alice's laptop." "$new_dir/$message" || fail "the body is not the page's"
grep -qi "^From: .*alice@example.org" "$new_dir/$message" || fail "the sender is not alice"
[ "$(stat -c %U "$new_dir/$message")" = postern ] || fail "the message is not owned by the daemon's user"
[ "$(stat -c '%U:%G %a' "$WORK/site/etc/users.db")" = "root:postern 640" ] \
  || fail "users.db is $(stat -c '%U:%G %a' "$WORK/site/etc/users.db"), not root:postern 640"

# --- A year in: another user, and a reload by the unprivileged daemon (issue 16 item 2) --------
printf 'another password\n' | on site postern user add /etc/postern/users.db carol >/dev/null \
  || fail "user add carol"
server_pid=""
for pid in $(ip netns pids "$NS_SITE"); do
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postern ] && server_pid=$pid
done
[ -n "$server_pid" ] || fail "no postern server process in the site namespace"
[ "$(stat -c %U "/proc/$server_pid")" = postern ] || fail "the server does not run as postern"
kill -HUP "$server_pid"
wait_for 10 "the reload with carol" grep -q 'reloaded.*users=2' "$WORK/site-daemon.log"
if grep -q "reload_failed" "$WORK/site-daemon.log"; then fail "reload_failed: $(grep 'reload_failed' "$WORK/site-daemon.log")"; fi
log "PASS: docs/deploying.md followed as written; message delivered to bob@example.org ($message)"
