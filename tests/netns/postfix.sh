# A real Debian Postfix as "the site's MTA" for the netns relay tests (issue 8). Sourced after
# lib.sh (bash). Each instance is private: it lives entirely under $WORK/postfix-NAME and runs
# in a network namespace the test made with add_ns / make_topology.
#
#   laptop ──tunnel── site (postern) ──veth── lan 192.168.50.2 (Postfix "mx", port 25)
#                                                 └─ virtual delivery to $WORK/postfix-mx/mail/
#
# Layout of $WORK/postfix-NAME:  conf/ (main.cf, master.cf, vmailbox, access, sasl/smtpd.conf)
# queue/ (queue_directory, with the master's pid file), data/ (data_directory), mail/DOMAIN/BOX/
# (Maildirs), sasldb2.  The maillog is $WORK/postfix-NAME.log (via postlogd), so lib.sh's fail()
# prints its tail. Only the package's meta files (/etc/postfix/postfix-files, dynamicmaps.cf) are
# read from the host; /etc/postfix/main.cf need not exist and is never written.
#
# How a private instance runs (found by trying, Postfix 3.7 on Debian 12):
#  - `postfix -c DIR start` as root needs no alternate_config_directories (that list only
#    guards the set-gid postdrop/postqueue when run by other users); master daemonizes, is its
#    own process group leader, and stays in the namespace `ip netns exec` put it in.
#  - maillog_file must sit under maillog_file_prefixes (default /var, /dev/stdout), else start
#    fails; we set the prefix to $WORK.
#  - our own master.cf, because Debian's chroots smtpd and friends into the queue directory,
#    where the SASL database, maps and certificates are not; ours runs nothing chrooted.
#  - smtpd_error_sleep_time = 0 and smtpd_peername_lookup = no, or every refused RCPT costs a
#    second and every connection a reverse lookup against a resolver the namespace cannot reach.
#
# Functions (NAME is an instance name of your choice; several may run at once, e.g. failover):
#   pf_make_ca DIR                   test CA: DIR/ca.pem, DIR/ca.key (kept if present)
#   pf_make_cert DIR NAME HOST [IP]  DIR/NAME.pem + DIR/NAME.key signed by DIR's CA, with
#                                    subjectAltName DNS:HOST (and IP:IP)
#   pf_create NAME NS ADDR [options] write the instance's configuration (does not start it):
#     --port N               SMTP port (default 25)
#     --hostname H           myhostname, used in the banner and EHLO (default mx.site.test)
#     --tls CERT KEY         offer STARTTLS with this certificate (level may, logged at level 1);
#                            without --tls no STARTTLS is offered at all
#     --sasl USER PASSWORD   AUTH PLAIN LOGIN from a Cyrus sasldb in the instance dir (after
#                            STARTTLS only, when --tls is given); clients log in as USER, the
#                            maillog says sasl_username=USER@HOSTNAME (the realm)
#     --require-auth         refuse (554 5.7.1) every recipient unless the client authenticated,
#                            so a delivery proves the AUTH (default: anyone may mail the domain)
#     --mynetworks CIDRS     who may relay without AUTH (default 127.0.0.0/8)
#     --domain D             the virtual mailbox domain (default elsewhere.example)
#     --mailbox LOCALPART    a mailbox that exists in D (repeatable; default: partner); any
#                            other recipient in D gets 550 5.1.1 at RCPT
#     --refuse ADDR "CODE TEXT"   check_recipient_access entry, e.g. "550 5.7.1 not here" or
#                            "450 4.7.1 try later" (repeatable)
#     --set PARAM=VALUE      any other main.cf line, last word (message_size_limit=...,
#                            smtpd_discard_ehlo_keywords=pipelining, ...) (repeatable)
#     Mail is never sent on: a recipient outside D gets 554 5.7.1 "Relay access denied" from
#     clients that may not relay and 550 5.7.1 at RCPT from those that may (error transport).
#     Call pf_create again (with the instance stopped) to change an instance's options.
#   pf_start NAME            postfix start in its namespace; returns when the banner is served
#   pf_stop NAME             postfix stop; returns when the master is gone and the port refuses
#   pf_wait NAME [SECONDS]   until the port serves a 220 banner (default 15 s)
#   pf_refuses NAME          succeeds if a connection to the port is refused right now
#   pf_maillog NAME          prints the maillog path
#   pf_log_grep NAME ERE     grep -E in the maillog (quiet; status only)
#   pf_wait_log NAME SECONDS ERE   until the maillog matches
#   pf_messages NAME BOX     paths of delivered messages in BOX's Maildir (new/ and cur/), oldest first
#   pf_wait_delivered NAME BOX COUNT SECONDS   until BOX holds at least COUNT messages
#   pf_strip_trace FILE      the message without the trace headers Postfix adds (Received,
#                            Return-Path, Delivered-To, X-Original-To), LF line ends
#   pf_dir NAME              prints the instance directory
# Clean-up: lib.sh's trap kills -9 every process of the test's namespaces, which takes the
# master and its children; pf_start refuses a namespace lib.sh does not own, so an instance can
# never outlive its test. All its state is under $WORK, which lib.sh removes.
#
# Example:
#   WITH_LAN=1 make_topology
#   pf_make_ca "$WORK/ca"; pf_make_cert "$WORK/ca" mx mx.site.test 192.168.50.2
#   pf_create mx "$NS_LAN" 192.168.50.2 --tls "$WORK/ca/mx.pem" "$WORK/ca/mx.key" \
#     --sasl postern "relay secret" --require-auth --mailbox partner --refuse no@elsewhere.example "550 5.7.1 no"
#   pf_start mx
#   ... ; pf_wait_delivered mx partner 1 20; pf_strip_trace "$(pf_messages mx partner | head -n 1)"

declare -A PF_NS=() PF_ADDR=() PF_PORT=()
PF_VMAIL_UID=$(id -u nobody)
PF_VMAIL_GID=$(id -g nobody)

pf_dir() { echo "$WORK/postfix-$1"; }
pf_maillog() { echo "$WORK/postfix-$1.log"; }

pf_make_ca() {
  local dir=$1
  mkdir -p "$dir"
  [ -f "$dir/ca.pem" ] && return 0
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" -subj "/CN=postern test mail CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    >>"$WORK/pf-openssl.log" 2>&1 || fail "openssl: test mail CA"
}

pf_make_cert() {
  local dir=$1 name=$2 host=$3 ip=${4:-}
  local san="DNS:$host${ip:+,IP:$ip}"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=$host" >>"$WORK/pf-openssl.log" 2>&1 ||
    fail "openssl: key and request for $host"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -out "$dir/$name.pem" -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san") \
    >>"$WORK/pf-openssl.log" 2>&1 || fail "openssl: sign the certificate for $host"
  chmod 644 "$dir/$name.key"  # smtpd reads it after dropping to the postfix user
}

pf_create() {
  local name=$1 ns=$2 addr=$3; shift 3
  command -v postfix >/dev/null || skip "postfix is not installed (tools/bootstrap.sh installs it)"
  local port=25 host=mx.site.test cert="" key="" sasl_user="" sasl_pass="" require_auth=0
  local mynetworks=127.0.0.0/8 domain=elsewhere.example mailboxes=() refusals=() extra=()
  while [ $# -gt 0 ]; do
    case $1 in
      --port) port=$2; shift 2 ;;
      --hostname) host=$2; shift 2 ;;
      --tls) cert=$2; key=$3; shift 3 ;;
      --sasl) sasl_user=$2; sasl_pass=$3; shift 3 ;;
      --require-auth) require_auth=1; shift ;;
      --mynetworks) mynetworks=$2; shift 2 ;;
      --domain) domain=$2; shift 2 ;;
      --mailbox) mailboxes+=("$2"); shift 2 ;;
      --refuse) refusals+=("$2 $3"); shift 3 ;;
      --set) extra+=("$2"); shift 2 ;;
      *) fail "pf_create: unknown option $1" ;;
    esac
  done
  [ ${#mailboxes[@]} -gt 0 ] || mailboxes=(partner)
  local d; d=$(pf_dir "$name")
  rm -rf "$d"
  mkdir -p "$d/conf/sasl" "$d/queue" "$d/data" "$d/mail"
  chown postfix "$d/data"  # master.lock, tlsmgr PRNG and session caches
  chown "$PF_VMAIL_UID:$PF_VMAIL_GID" "$d/mail"
  PF_NS[$name]=$ns PF_ADDR[$name]=$addr PF_PORT[$name]=$port

  local box
  : >"$d/conf/vmailbox"
  for box in "${mailboxes[@]}"; do echo "$box@$domain $domain/$box/" >>"$d/conf/vmailbox"; done
  printf '%s\n' "${refusals[@]}" >"$d/conf/access"
  pf_write_master_cf "$d/conf/master.cf" "$port"
  pf_write_main_cf "$name" "$d" "$host" "$addr" "$mynetworks" "$domain" >"$d/conf/main.cf"
  {
    local restrictions="check_recipient_access texthash:$d/conf/access"
    [ "$require_auth" = 1 ] && restrictions+=", permit_sasl_authenticated, reject"
    echo "smtpd_recipient_restrictions = $restrictions"
    if [ -n "$cert" ]; then
      printf '%s\n' "smtpd_tls_cert_file = $cert" "smtpd_tls_key_file = $key" \
        "smtpd_tls_security_level = may" "smtpd_tls_loglevel = 1" "smtpd_tls_received_header = yes"
    else
      echo "smtpd_tls_security_level = none"
    fi
    [ -n "$sasl_user" ] && pf_setup_sasl "$d" "$host" "$sasl_user" "$sasl_pass" "$cert"
    printf '%s\n' "${extra[@]}"
  } >>"$d/conf/main.cf"
  postconf -c "$d/conf" -n >/dev/null 2>"$WORK/pf-postconf.log" || fail "pf_create: postconf: $(cat "$WORK/pf-postconf.log")"
}

# pf_write_main_cf NAME DIR HOST ADDR MYNETWORKS DOMAIN: the fixed part of main.cf
pf_write_main_cf() {
  local name=$1 d=$2 host=$3 addr=$4 mynetworks=$5 domain=$6
  cat <<CF
# Private test instance "$name" (tests/netns/postfix.sh); nothing here is the host's Postfix.
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $(pf_maillog "$name")
maillog_file_prefixes = $WORK
myhostname = $host
mydomain = site.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
biff = no
inet_interfaces = $addr
inet_protocols = ipv4
mynetworks = $mynetworks
smtpd_banner = \$myhostname ESMTP test Postfix
smtpd_peername_lookup = no
smtpd_error_sleep_time = 0
in_flow_delay = 0
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
virtual_mailbox_domains = $domain
virtual_mailbox_base = $d/mail
virtual_mailbox_maps = texthash:$d/conf/vmailbox
virtual_minimum_uid = 100
virtual_uid_maps = static:$PF_VMAIL_UID
virtual_gid_maps = static:$PF_VMAIL_GID
# Nothing leaves this MTA: mail for other domains (relayed from mynetworks, bounces to remote
# senders) fails at once instead of waiting on DNS the namespace does not have.
default_transport = error:5.7.1 the test MTA delivers only to $domain
relay_transport = \$default_transport
CF
}

# pf_setup_sasl DIR HOST USER PASSWORD CERT: Cyrus sasldb + smtpd.conf, prints the main.cf lines
pf_setup_sasl() {
  local d=$1 host=$2 user=$3 pass=$4 cert=$5
  printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: %s\nmech_list: PLAIN LOGIN\n' \
    "$d/sasldb2" >"$d/conf/sasl/smtpd.conf"
  printf '%s' "$pass" | saslpasswd2 -p -c -f "$d/sasldb2" -u "$host" "$user" ||
    fail "saslpasswd2 for $user"
  chown postfix "$d/sasldb2"
  chmod 600 "$d/sasldb2"
  printf '%s\n' "smtpd_sasl_auth_enable = yes" "smtpd_sasl_type = cyrus" "smtpd_sasl_path = smtpd" \
    "cyrus_sasl_config_path = $d/conf/sasl" "smtpd_sasl_local_domain = \$myhostname"
  [ -n "$cert" ] && echo "smtpd_tls_auth_only = yes"
  return 0
}

# pf_write_master_cf FILE PORT: upstream's services, none chrooted (see the header)
pf_write_master_cf() {
  cat >"$1" <<MASTER
$2        inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
MASTER
}

pf_start() {
  local name=$1 d; d=$(pf_dir "$1")
  local ns=${PF_NS[$name]:?pf_start: no pf_create for $name}
  [[ " ${NAMESPACES[*]} " == *" $ns "* ]] || fail "pf_start: namespace $ns is not one of this test's (add_ns)"
  ip netns exec "$ns" postfix -c "$d/conf" start >>"$WORK/pf-$name-control.log" 2>&1 ||
    fail "postfix start ($name): $(tail -n 5 "$WORK/pf-$name-control.log")"
  pf_wait "$name"
}

pf_stop() {
  local name=$1 d; d=$(pf_dir "$1")
  # postfix stop waits (up to 5 s) for the master, then kills its process group.
  ip netns exec "${PF_NS[$name]}" postfix -c "$d/conf" stop >>"$WORK/pf-$name-control.log" 2>&1 ||
    fail "postfix stop ($name): $(tail -n 5 "$WORK/pf-$name-control.log")"
  wait_for 10 "Postfix $name to close its port" pf_refuses "$name"
}

# pf__banner NAME: one connection; succeeds on a 220 greeting (then says QUIT)
pf__banner() {
  ip netns exec "${PF_NS[$1]}" timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    IFS= read -r -t 2 line <&3 || exit 1
    printf "QUIT\r\n" >&3
    [[ $line == 220* ]]' "${PF_ADDR[$1]}" "${PF_PORT[$1]}"
}

pf_wait() { wait_for "${2:-15}" "Postfix $1 on ${PF_ADDR[$1]}:${PF_PORT[$1]}" pf__banner "$1"; }

pf_refuses() {
  ! ip netns exec "${PF_NS[$1]}" timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' \
    "${PF_ADDR[$1]}" "${PF_PORT[$1]}" 2>/dev/null
}

pf_log_grep() { grep -Eq -- "$2" "$(pf_maillog "$1")" 2>/dev/null; }
pf_wait_log() { wait_for "$2" "/$3/ in Postfix $1's maillog" pf_log_grep "$1" "$3"; }

pf_messages() {
  local dir; dir="$(pf_dir "$1")/mail"
  find "$dir" -type f \( -path "*/$2/new/*" -o -path "*/$2/cur/*" \) -printf '%T@ %p\n' 2>/dev/null |
    sort -n | cut -d' ' -f2-
}

pf_wait_delivered() {
  wait_for "$4" "$3 message(s) in Postfix $1's mailbox $2" \
    bash -c '[ "$(find "$0" -type f \( -path "*/$1/new/*" -o -path "*/$1/cur/*" \) | wc -l)" -ge "$2" ]' \
    "$(pf_dir "$1")/mail" "$2" "$3"
}

pf_strip_trace() {
  awk '
    BEGIN { in_header = 1; skipping = 0 }
    { sub(/\r$/, "") }
    in_header && $0 == "" { in_header = 0 }
    in_header && /^[ \t]/ { if (!skipping) print; next }
    in_header { skipping = tolower($0) ~ /^(received|return-path|delivered-to|x-original-to):/ }
    !(in_header && skipping) { print }
  ' "$1"
}
