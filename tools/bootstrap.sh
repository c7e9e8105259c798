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
  libtomlplusplus-dev libcli11-dev libfmt-dev
  clang libclang-rt-14-dev
  libsystemd-dev systemd dpkg-dev help2man lintian
  iproute2 nftables iputils-ping iperf3 swaks libnet-ssleay-perl python3 tcpdump procps psmisc util-linux
  dovecot-core dovecot-imapd
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
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
