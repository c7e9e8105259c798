#!/usr/bin/env bash
# Pushed DNS applied on the client and undone (issue 12 item 5), through the file backend:
#   * the site pushes dns = ["10.77.0.1"] and dns_domains = ["site.test", "~corp.internal"];
#     a dnsmasq in the site namespace answers on 10.77.0.1 for intranet.site.test;
#   * the laptop namespace has its own /etc/resolv.conf (/etc/netns/NS/resolv.conf, which
#     `ip netns exec` bind-mounts over /etc/resolv.conf in the client's mount namespace);
#   * while the tunnel is up the file names the pushed server and the search domain (the
#     routing-only "~corp.internal" is logged as not applicable), and `getent hosts` of
#     intranet.site.test and of the short name "intranet" answer 192.168.50.7 through the tunnel;
#   * SIGTERM restores the file byte for byte; kill -9 of the client alone: its root DNS helper
#     restores at once; kill -9 of helper and client: the next start restores the backup
#     (logging the crashed run), applies again, and its SIGTERM leaves the original file;
#   * with leak_protection, udp/tcp 53 to any server but the pushed one fails with EACCES, and
#     the rules go when the client exits.
# systemd-resolved cannot run here (systemd is not PID 1 in these namespaces, and a host's
# resolved would configure links of its own namespace), so the client is forced to
# dns_backend = "file"; the resolvectl arguments are unit-tested (tests/platform/resolver_test.cpp).
source "$(dirname "$0")/lib.sh"
require_root
command -v dnsmasq >/dev/null || skip "dnsmasq is not installed (Debian: dnsmasq-base)"
command -v getent >/dev/null || skip "getent is not installed"
make_topology
make_pki
write_server_config "$WORK/site.toml" 'dns_domains = ["site.test", "~corp.internal"]'
CLIENT_APPLY_DNS=true write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' \
  'private_key = "pki/laptop.key"' 'dns_backend = "file"' "dns_state_dir = \"$WORK/state\""
BACKUP="$WORK/state/pst0.resolv.conf.backup"

RESOLV="/etc/netns/$NS_LAPTOP/resolv.conf"
mkdir -p "/etc/netns/$NS_LAPTOP"
# A nameserver nobody answers on (TEST-NET-1) and timeout:1, so a leak to it would only be slow.
printf '# the laptop'"'"'s own resolver\nnameserver 192.0.2.53\nsearch home.example\noptions ndots:1 timeout:1 attempts:1\n' >"$RESOLV"
chmod 0644 "$RESOLV"
cp -p "$RESOLV" "$WORK/resolv.orig"

start_server "$WORK/site.toml"
wait_for 10 "server tunnel interface" bash -c "ip -n $NS_SITE -4 addr show dev pst0 | grep -q 'inet 10.77.0.1/'"
in_site dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
  --listen-address=10.77.0.1 --port=53 --user=nobody --group=nogroup --pid-file="$WORK/dnsmasq.pid" \
  --address=/intranet.site.test/192.168.50.7 --log-queries --log-facility="$WORK/dnsmasq.log" \
  >"$WORK/dnsmasq.out" 2>&1 &
PIDS+=($!)
wait_for 5 "dnsmasq" grep -q "started" "$WORK/dnsmasq.log"

# applied_ok: the laptop's resolv.conf holds the pushed server and search domain, not the original.
applied_ok() {
  grep -qx "nameserver 10.77.0.1" "$RESOLV" && grep -qx "search site.test" "$RESOLV" &&
    ! grep -q "192.0.2.53" "$RESOLV" && grep -qx "options ndots:1 timeout:1 attempts:1" "$RESOLV"
}
lookups_ok() {
  local a b
  a=$(in_laptop getent hosts intranet.site.test | awk '{print $1}')
  [ "$a" = "192.168.50.7" ] || fail "getent hosts intranet.site.test gave '$a'"
  b=$(in_laptop getent hosts intranet | awk '{print $1}')
  [ "$b" = "192.168.50.7" ] || fail "getent hosts intranet (search domain) gave '$b'"
  grep -q "query\[A\] intranet.site.test from 10.77.0." "$WORK/dnsmasq.log" ||
    fail "dnsmasq did not see the query from a tunnel address"
}
restored_ok() { cmp -s "$RESOLV" "$WORK/resolv.orig" && [ ! -e "$BACKUP" ]; }
helper_pid() { sed -n 's/.*dns helper_started backend=file pid=\([0-9]*\).*/\1/p' "$WORK/$1.log" | tail -n 1; }

# 1. Applied while up, restored byte-exact on SIGTERM.
start_client "$WORK/laptop.toml" laptop
wait_for 15 "pushed DNS applied" grep -q "dns applied backend=file interface=pst0" "$WORK/laptop.log"
applied_ok || { cat "$RESOLV" >&2; fail "resolv.conf does not hold the pushed DNS"; }
[ -f "$BACKUP" ] || fail "no backup of the original in the state dir"
grep -q "routing_domain_not_applied domain=~corp.internal" "$WORK/laptop.log" ||
  fail "the routing-only domain was not reported as not applicable"
lookups_ok
log "applied: nameserver 10.77.0.1, search site.test; getent resolves intranet(.site.test) via the tunnel"
kill -TERM "$CLIENT_PID"
wait "$CLIENT_PID" || fail "client exited with $? on SIGTERM"
restored_ok || { diff "$WORK/resolv.orig" "$RESOLV" >&2; fail "resolv.conf not restored on SIGTERM"; }
[ "$(stat -c %a "$RESOLV")" = 644 ] || fail "mode changed"
log "SIGTERM: original restored byte for byte, backup removed"

# 2. kill -9 of the client: its helper sees the socket close and restores by itself.
start_client "$WORK/laptop.toml" laptop2
wait_for 15 "pushed DNS applied (2)" grep -q "dns applied" "$WORK/laptop2.log"
applied_ok || fail "second run did not apply"
kill -9 "$CLIENT_PID"
wait "$CLIENT_PID" 2>/dev/null || true
wait_for 5 "restore by the helper after kill -9" restored_ok
log "kill -9 of the client: the helper restored the original"

# 3. kill -9 of helper and client together: the next start restores the backup, then applies.
start_client "$WORK/laptop.toml" laptop3
wait_for 15 "pushed DNS applied (3)" grep -q "dns applied" "$WORK/laptop3.log"
hp=$(helper_pid laptop3)
[ -n "$hp" ] || fail "no helper pid in the log"
kill -9 "$hp"
kill -9 "$CLIENT_PID"
wait "$CLIENT_PID" 2>/dev/null || true
sleep 0.3
applied_ok || fail "expected the crashed run's resolv.conf to be left behind"
[ -f "$BACKUP" ] || fail "expected the crashed run's backup to be left behind"
start_client "$WORK/laptop.toml" laptop4
wait_for 15 "pushed DNS applied (4)" grep -q "dns applied" "$WORK/laptop4.log"
grep -q "dns crash_restored" "$WORK/laptop4.log" || fail "the next start did not restore the backup"
applied_ok || fail "fourth run did not apply"
lookups_ok
grep -q "nameserver 192.0.2.53" "$BACKUP" || fail "the new backup is not the original (it backed up our own file)"
kill -TERM "$CLIENT_PID"
wait "$CLIENT_PID" || fail "client exited with $? on SIGTERM (4)"
restored_ok || { diff "$WORK/resolv.orig" "$RESOLV" >&2; fail "resolv.conf not restored after the crash recovery run"; }
log "kill -9 of both: next start restored, re-applied, and its exit left the original file"

# 4. Leak protection: DNS goes to the pushed server only (rules 32758-32760); any other server
# (here the site's veth address, routed by main) is refused with EACCES over UDP and TCP.
ip -n "$NS_LAPTOP" route add default via 10.200.0.2 dev "$VETH_LAPTOP"
CLIENT_APPLY_DNS=true write_client_config "$WORK/laptop_leak.toml" 'certificate = "pki/laptop.pem"'   'private_key = "pki/laptop.key"' 'dns_backend = "file"' "dns_state_dir = \"$WORK/state\"" 'leak_protection = true'
# other_dns PROTO: prints "ok" or the errno name of a port-53 packet to 10.200.0.2.
other_dns() {
  in_laptop python3 - "$1" <<'PY'
import errno, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.settimeout(2)
try:
    if sys.argv[1] == "udp":
        s.sendto(b"\0" * 12, ("10.200.0.2", 53))
    else:
        s.connect(("10.200.0.2", 53))
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e)))
PY
}
[ "$(other_dns udp)" = ok ] || fail "without leak protection a UDP packet to another DNS server should leave"
start_client "$WORK/laptop_leak.toml" laptop5
wait_for 15 "pushed DNS applied (5)" grep -q "dns applied" "$WORK/laptop5.log"
wait_for 5 "DNS leak rules" grep -q "dns_leak_protection_on servers=1" "$WORK/laptop5.log"
ip -n "$NS_LAPTOP" -4 rule show >"$WORK/rules.txt"
grep -Eq '^32758:[[:space:]]+from all fwmark 0x7073 goto 32761' "$WORK/rules.txt" || { cat "$WORK/rules.txt"; fail "rule 32758 missing"; }
grep -Eq '^32759:[[:space:]]+from all to 10.77.0.1 ipproto udp dport 53 lookup 7073' "$WORK/rules.txt" || fail "udp allow rule missing"
grep -Eq '^32759:[[:space:]]+from all to 10.77.0.1 ipproto tcp dport 53 lookup 7073' "$WORK/rules.txt" || fail "tcp allow rule missing"
grep -Eq '^32760:[[:space:]]+from all ipproto udp dport 53 prohibit' "$WORK/rules.txt" || fail "udp prohibit rule missing"
lookups_ok
[ "$(other_dns udp)" = EACCES ] || fail "a UDP query to a non-pushed server was not refused: $(other_dns udp)"
[ "$(other_dns tcp)" = EACCES ] || fail "a TCP query to a non-pushed server was not refused: $(other_dns tcp)"
log "leak protection: getent via the pushed server works; udp/tcp 53 to 10.200.0.2 refused (EACCES)"
kill -TERM "$CLIENT_PID"
wait "$CLIENT_PID" || fail "client exited with $? on SIGTERM (5)"
if ip -n "$NS_LAPTOP" -4 rule show | grep -Eq '^3275[89]:|^32760:'; then fail "DNS rules left after exit"; fi
[ "$(other_dns udp)" = ok ] || fail "DNS still blocked after the client exited"
restored_ok || fail "resolv.conf not restored after the leak-protection run"
log "exit: DNS rules removed, resolv.conf restored"
log "PASS"
