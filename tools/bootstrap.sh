#!/usr/bin/env bash
# Installs the Debian 12 packages postern needs to build, test, fuzz and run its demo.
# Idempotent: packages already present are skipped quickly by apt.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "bootstrap: needs root to run apt-get (try: sudo $0)" >&2
  exit 1
fi
PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  libssl-dev openssl libasio-dev libpcap-dev libgtest-dev libgmock-dev
  libtomlplusplus-dev libcli11-dev libfmt-dev prometheus-cpp-dev
  clang libclang-rt-14-dev
  libsystemd-dev systemd dpkg-dev help2man lintian
  iproute2 nftables iputils-ping iperf3 dnsmasq-base swaks libnet-ssleay-perl python3 tcpdump procps psmisc util-linux
  curl prometheus
  dovecot-core dovecot-imapd
  postfix sasl2-bin libsasl2-modules
  libldap-dev slapd ldap-utils freeradius freeradius-utils
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "bootstrap: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "bootstrap: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Postfix is only for the netns relay tests (tests/netns/postfix.sh), which start private
# instances with their own configuration directory: install it unconfigured ("No configuration"
# writes no /etc/postfix/main.cf) and let no maintainer script start a system instance.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
# slapd and FreeRADIUS likewise serve only the directory tests (tests/netns/directory_ldap.sh,
# directory_radius.sh), which run private instances from their own config in the test's temp
# directory: the system ones the packages set up are never used (policy-rc.d keeps them stopped).
echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
made_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d  # "action forbidden" for invoke-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  made_policy=1
fi
status=0
apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" || status=$?
[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
# Belt and braces: `postfix status` with the default config only sees a system instance (its pid
# file under /var/spool/postfix), never a test's private one.
if postfix status >/dev/null 2>&1; then
  echo "bootstrap: stopping the system Postfix instance the package started"
  postfix stop >/dev/null 2>&1 || true
fi
exit "$status"
