# A throwaway Dovecot IMAP server for the netns tests (sourced after lib.sh, bash).
# dovecot_start NS MAILDIR USER PASSWORD [ADDRESS] [PORT] starts Debian 12's Dovecot 2.3
# (dovecot-imapd) in namespace NS, serving MAILDIR/<user> (postern names each mailbox directory
# by the full address, hence mail_location ...%u) to USER over plain IMAP on ADDRESS:PORT
# (default 10.200.0.2:143), and waits until it answers. Everything it writes lives in
# $WORK/dovecot (config, base_dir, state_dir) and $WORK/dovecot.log, so lib.sh's fail() shows
# the log. The master runs in the foreground (-F) as a lib.sh PID: cleanup TERMs it (Dovecot
# stops its children) and then kills whatever is left in the namespace; dovecot_stop does the
# same early and checks that nothing stays behind. It sets DOVECOT_PID, DOVECOT_NS,
# DOVECOT_ADDRESS and DOVECOT_PORT for the caller.
#
# What Dovecot needed, and why:
# * its own config (-c) with nothing from /etc/dovecot: base_dir, state_dir and log_path in WORK
#   (the defaults /run/dovecot and /var/lib/dovecot would meet a system Dovecot), and
#   instance_name so its processes and sockets are recognisably this test's;
# * ssl = no and disable_plaintext_auth = no: plain LOGIN on the namespace's own address
#   (otherwise Dovecot wants certificates, and refuses LOGIN without TLS off localhost);
# * passdb passwd-file with a {PLAIN} password, userdb static with uid/gid 8 (Debian's "mail",
#   the group postern gives the Maildir with maildir_group = "mail"), and first_valid_uid/gid = 8
#   (the defaults, 500, refuse system accounts);
# * no home in the userdb: there is nowhere uid 8 may create one, and IMAP alone does not need it;
# * the login processes run as the packaged dovenull/dovecot users, so base_dir must be reachable
#   by them: WORK is 0755 (lib.sh) and Dovecot makes base_dir itself;
# * SELECT moves new/ files to cur/ (adding ":2,"): a test that compares with the file postern
#   wrote reads that file before Dovecot sees it.
# shellcheck disable=SC2034  # DOVECOT_* are for the caller

dovecot_start() {
  local ns=$1 maildir=$2 user=$3 password=$4 address=${5:-10.200.0.2} port=${6:-143}
  command -v dovecot >/dev/null || skip "dovecot is not installed (Debian: dovecot-imapd)"
  getent passwd dovenull >/dev/null || skip "the dovenull user (made by dovecot-core) is missing"
  local dir="$WORK/dovecot"
  mkdir -p "$dir/state"
  chmod 755 "$dir"
  printf '%s:{PLAIN}%s\n' "$user" "$password" >"$dir/passwd"
  chmod 644 "$dir/passwd"   # read by the auth process (runs as root, then dovecot)
  cat >"$dir/dovecot.conf" <<CONF
instance_name = dovecot-$ID
base_dir = $dir/run
state_dir = $dir/state
log_path = $WORK/dovecot.log
info_log_path = $WORK/dovecot.log
protocols = imap
listen = $address
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 8
first_valid_gid = 8
mail_location = maildir:$maildir/%u
passdb {
  driver = passwd-file
  args = scheme=PLAIN $dir/passwd
}
userdb {
  driver = static
  args = uid=8 gid=8
}
service imap-login {
  inet_listener imap {
    address = $address
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
CONF
  # `ip netns exec` execs dovecot, so $! is the master.
  ip netns exec "$ns" dovecot -F -c "$dir/dovecot.conf" >>"$WORK/dovecot.log" 2>&1 &
  PIDS+=($!)
  DOVECOT_PID=$!
  DOVECOT_NS=$ns
  DOVECOT_ADDRESS=$address
  DOVECOT_PORT=$port
  wait_for 10 "Dovecot on $address:$port" ip netns exec "$ns" bash -c "exec 3<>/dev/tcp/$address/$port"
}

# dovecot_stop: TERM the master, wait for it, and fail if its processes are still there 5 s later.
dovecot_left() {
  local pid
  for pid in $(ip netns pids "$DOVECOT_NS" 2>/dev/null); do
    # Dovecot's processes: the master ("dovecot") and its services (imap, imap-login, auth, ...),
    # all started from the one binary directory.
    case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in /usr/sbin/dovecot|/usr/lib/dovecot/*) echo "$pid";; esac
  done
}
dovecot_stop() {
  [ -n "${DOVECOT_PID:-}" ] || return 0
  kill "$DOVECOT_PID" 2>/dev/null || true
  wait "$DOVECOT_PID" 2>/dev/null || true
  DOVECOT_PID=
  local deadline=$((SECONDS + 5))
  while [ -n "$(dovecot_left)" ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "Dovecot processes left after its master stopped: $(dovecot_left | tr '\n' ' ')"
    sleep 0.2
  done
}
