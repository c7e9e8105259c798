# A throwaway Debian Postfix as the site's mail server, for the relay tests (sourced after
# lib.sh). Everything lives under $WORK/postfix: its own config_directory (main.cf, master.cf),
# queue_directory, data_directory, a Maildir tree for the virtual domain, and its log
# ($WORK/postfix/maillog, via postlogd). The host's /etc/postfix is only read for the
# postfix-files meta data; no system instance is involved.
#
# What a private instance needs (found by trying): `postfix -c DIR start` as root works without
# alternate_config_directories; maillog_file must sit under maillog_file_prefixes (default /var,
# /dev/stdout: otherwise postfix start fails silently); master.cf without chroot (Debian's runs
# smtpd chrooted into the queue directory, where the SASL db and maps are not); virtual delivery
# needs virtual_minimum_uid at or below the mailbox owner (Debian's "mail", uid 8).
#
#   mta_start NS ADDR        start Postfix in namespace NS listening on ADDR:25, configured by:
#     MTA_DOMAIN       virtual domain it delivers (default elsewhere.example)
#     MTA_MAILBOXES    space-separated local parts that exist there (default "partner")
#     MTA_TLS          yes (default) | no   offer STARTTLS with $MTA_DIR/cert.pem/key.pem
#     MTA_CERT_NAME    host name in the self-signed certificate (default mx.site.test)
#     MTA_SASL_USER / MTA_SASL_PASSWORD   enable SMTP AUTH (Cyrus sasldb) for this user, and
#                      require it for every recipient (so a delivery proves the AUTH)
#     MTA_MYNETWORKS   who may relay without AUTH (default 127.0.0.0/8)
#     MTA_ACCESS       lines of a check_recipient_access map ("addr REJECT text")
#   mta_stop / mta_restart   postfix stop / start of the same instance
#   mta_wait NS ADDR         until ADDR:25 accepts (from NS)
#   mta_messages MAILBOX     paths of delivered messages for MAILBOX@$MTA_DOMAIN
#   mta_log                  the maillog path
# The certificate is made once per test (regenerated when MTA_CERT_NAME changes).

MTA_DIR="$WORK/postfix"

mta_cert() {
  local name=${MTA_CERT_NAME:-mx.site.test}
  if [ ! -f "$MTA_DIR/cert.pem" ] || [ "$(cat "$MTA_DIR/cert.name" 2>/dev/null)" != "$name" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
      -keyout "$MTA_DIR/key.pem" -out "$MTA_DIR/cert.pem" -subj "/CN=$name" \
      -addext "subjectAltName=DNS:$name" >/dev/null 2>&1 || fail "openssl req for the MTA"
    echo "$name" >"$MTA_DIR/cert.name"
  fi
}

mta_write_config() {
  local addr=$1 d=$MTA_DIR
  # Debian's Postfix looks for the Cyrus config in $config_directory/sasl whatever
  # cyrus_sasl_config_path says (strace shows it), so it goes there.
  mkdir -p "$d/conf/sasl" "$d/queue" "$d/data" "$d/mail"
  chown postfix "$d/data"
  chown 8:8 "$d/mail"
  local tls_lines="" sasl_lines="" access_line=""
  if [ "${MTA_TLS:-yes}" = yes ]; then
    mta_cert
    tls_lines="smtpd_tls_cert_file = $d/cert.pem
smtpd_tls_key_file = $d/key.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes"
  fi
  if [ -n "${MTA_SASL_USER:-}" ]; then
    printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: %s\nmech_list: PLAIN LOGIN\n' \
      "$d/sasldb2" >"$d/conf/sasl/smtpd.conf"
    rm -f "$d/sasldb2"
    printf '%s' "$MTA_SASL_PASSWORD" | saslpasswd2 -p -c -f "$d/sasldb2" -u "${MTA_DOMAIN:-elsewhere.example}" "$MTA_SASL_USER" ||
      fail "saslpasswd2"
    chown postfix "$d/sasldb2"
    sasl_lines="smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $d/conf/sasl
smtpd_sasl_local_domain = ${MTA_DOMAIN:-elsewhere.example}
smtpd_tls_auth_only = yes"
  fi
  printf '%s\n' "${MTA_ACCESS:-}" >"$d/conf/access"
  [ -n "${MTA_ACCESS:-}" ] && access_line="check_recipient_access texthash:$d/conf/access,"
  : >"$d/conf/vmailbox"
  for box in ${MTA_MAILBOXES:-partner}; do
    echo "$box@${MTA_DOMAIN:-elsewhere.example} ${MTA_DOMAIN:-elsewhere.example}/$box/" >>"$d/conf/vmailbox"
  done
  cat >"$d/conf/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.site.test
mydomain = site.test
myorigin = site.test
mydestination =
inet_interfaces = $addr
inet_protocols = ipv4
mynetworks = ${MTA_MYNETWORKS:-127.0.0.0/8}
maillog_file = $d/maillog
maillog_file_prefixes = $d
alias_maps =
alias_database =
biff = no
smtpd_banner = \$myhostname ESMTP
virtual_mailbox_domains = ${MTA_DOMAIN:-elsewhere.example}
virtual_mailbox_base = $d/mail
virtual_mailbox_maps = texthash:$d/conf/vmailbox
virtual_minimum_uid = 8
virtual_uid_maps = static:8
virtual_gid_maps = static:8
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions = $access_line ${MTA_SASL_USER:+permit_sasl_authenticated, reject,} permit
$tls_lines
$sasl_lines
CF
  # Debian's master.cf, unchrooted (column 5).
  sed -E 's/^([a-z]+[[:space:]]+(inet|unix|unix-dgram|fifo|pass)[[:space:]]+[-yn][[:space:]]+[-yn][[:space:]]+)y/\1n/' \
    /etc/postfix/master.cf >"$d/conf/master.cf"
}

mta_start() {
  local ns=$1 addr=$2
  command -v postfix >/dev/null || skip "postfix is not installed (tools/bootstrap.sh installs it)"
  MTA_NS=$ns
  MTA_ADDR=$addr
  mta_write_config "$addr"
  ip netns exec "$ns" postfix -c "$MTA_DIR/conf" start >>"$WORK/mta.log" 2>&1 || fail "postfix start: $(tail -n 3 "$MTA_DIR/maillog" 2>/dev/null)"
  mta_wait "$ns" "$addr"
}

mta_wait() {
  wait_for 15 "Postfix on $2:25" ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/25"
}

mta_stop() {
  ip netns exec "$MTA_NS" postfix -c "$MTA_DIR/conf" stop >>"$WORK/mta.log" 2>&1 || true
  # postfix stop returns before the master has exited; wait until the port is closed.
  local i
  for i in $(seq 50); do
    ip netns exec "$MTA_NS" bash -c "exec 3<>/dev/tcp/$MTA_ADDR/25" 2>/dev/null || return 0
    sleep 0.1
  done
  fail "Postfix did not stop"
}

mta_restart() {
  mta_write_config "$MTA_ADDR"
  ip netns exec "$MTA_NS" postfix -c "$MTA_DIR/conf" start >>"$WORK/mta.log" 2>&1 || fail "postfix start"
  mta_wait "$MTA_NS" "$MTA_ADDR"
}

mta_messages() {
  find "$MTA_DIR/mail/${MTA_DOMAIN:-elsewhere.example}/$1" -type f -path '*/new/*' 2>/dev/null | sort
}

mta_log() { echo "$MTA_DIR/maillog"; }
