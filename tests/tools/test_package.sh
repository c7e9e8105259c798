#!/usr/bin/env bash
# The Debian package for real: cpack -G DEB from the build tree, `apt-get install ./postern_*.deb`,
# then the postern user and group, the directories with their modes, the units (verify clean
# at their installed path), the binary and man page, and no daemon started; then
# `dpkg --purge` and everything (user, group, directories, files) gone.
# Root only; exit 77 (skipped) when not root, without dpkg/apt-get, or when postern is already
# installed or a postern user exists (the test never touches what it did not create).
#   test_package.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: test_package.sh BUILD_DIR}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (installs and purges a package)"; exit 77; }
command -v dpkg >/dev/null && command -v apt-get >/dev/null && command -v cpack >/dev/null \
  || { echo "SKIP: needs dpkg, apt-get and cpack"; exit 77; }
if dpkg-query -W -f='${Status}' postern 2>/dev/null | grep -q installed || getent passwd postern >/dev/null; then
  echo "SKIP: postern is already installed here (or a postern user exists): not touching it"; exit 77
fi
tmp=$(mktemp -d)
installed=0
cleanup() {
  if [ "$installed" = 1 ]; then dpkg --purge postern >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
check() {  # check "what" command...
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}
mode_owner() { [ "$(stat -c '%a %U:%G' "$1")" = "$2" ]; }

(cd "$build" && cpack -G DEB -B "$tmp" >"$tmp/cpack.log" 2>&1) || { cat "$tmp/cpack.log"; exit 1; }
deb=$(ls "$tmp"/postern_*.deb)
echo "ok   built $(basename "$deb")"
if command -v lintian >/dev/null; then
  errors=$(lintian --no-tag-display-limit "$deb" 2>/dev/null | grep '^E:' || true)
  check "lintian: no errors${errors:+ ($errors)}" test -z "$errors"
fi

installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb" >"$tmp/apt.log" 2>&1 \
  || { cat "$tmp/apt.log"; exit 1; }
check "user postern exists" getent passwd postern
check "group postern exists" getent group postern
check "postern is a system user (uid < 1000)" test "$(id -u postern)" -lt 1000
check "/var/spool/postern 750 postern:postern" mode_owner /var/spool/postern "750 postern:postern"
check "/var/mail/postern owned by postern" test "$(stat -c %U:%G /var/mail/postern)" = postern:postern
check "/etc/postern 750 root:postern" mode_owner /etc/postern "750 root:postern"
check "/usr/sbin/postern runs" /usr/sbin/postern --version
check "/lib/systemd/system/postern-server.service" test -f /lib/systemd/system/postern-server.service
check "/lib/systemd/system/postern-client@.service" test -f /lib/systemd/system/postern-client@.service
check "example configs in /usr/share/doc/postern/examples" \
  test -f /usr/share/doc/postern/examples/site.toml -a -f /usr/share/doc/postern/examples/client.toml
if [ -f /usr/share/man/man8/postern.8.gz ]; then echo "ok   man page"; else echo "ok   no man page (built without help2man)"; fi
if command -v systemd-analyze >/dev/null; then
  check "systemd-analyze verify of the installed units" systemd-analyze verify --man=no \
    /lib/systemd/system/postern-server.service /lib/systemd/system/postern-client@office.service
fi
check "no daemon was started from the package" bash -c '! pgrep -f "^/usr/sbin/postern "'

dpkg --purge postern >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log"; exit 1; }
installed=0
check "purge: user gone" bash -c '! getent passwd postern'
check "purge: group gone" bash -c '! getent group postern'
for path in /etc/postern /var/spool/postern /var/mail/postern /usr/sbin/postern /lib/systemd/system/postern-server.service \
            /lib/systemd/system/postern-client@.service /usr/share/doc/postern; do
  check "purge: $path gone" test ! -e "$path"
done
check "purge: dpkg forgot the package" bash -c '! dpkg-query -W postern'
exit $fail
