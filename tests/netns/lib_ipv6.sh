# Helpers for the tests of IPv6 underneath the tunnel (issue 13), sourced after lib.sh.
# Addresses get `nodad` so they are usable at once (no duplicate address detection wait).
#   laptop fd00:200::1/64 (+ 10.200.0.1/24 with DUAL=1) <-veth-> site fd00:200::2/64 (+ 10.200.0.2/24)

SITE6=fd00:200::2
LAPTOP6=fd00:200::1

# make_topology_v6: the laptop and the site joined by one veth with IPv6 addresses only
# (DUAL=1: IPv4 too, as make_topology).
make_topology_v6() {
  add_ns "$NS_SITE"
  add_ns "$NS_LAPTOP"
  ip link add "${ID}a" type veth peer name "${ID}b"
  ip link set "${ID}a" netns "$NS_LAPTOP"
  ip link set "${ID}b" netns "$NS_SITE"
  VETH_LAPTOP="${ID}a"
  VETH_SITE="${ID}b"
  ip -n "$NS_LAPTOP" addr add "$LAPTOP6/64" dev "$VETH_LAPTOP" nodad
  ip -n "$NS_SITE" addr add "$SITE6/64" dev "$VETH_SITE" nodad
  if [ "${DUAL:-0}" = 1 ]; then
    ip -n "$NS_LAPTOP" addr add 10.200.0.1/24 dev "$VETH_LAPTOP"
    ip -n "$NS_SITE" addr add 10.200.0.2/24 dev "$VETH_SITE"
  fi
  ip -n "$NS_LAPTOP" link set "$VETH_LAPTOP" up
  ip -n "$NS_SITE" link set "$VETH_SITE" up
  wait_for 5 "IPv6 on the veth" in_laptop ping -6 -c 1 -W 1 "$SITE6"
}

# make_pki_v6 [extra server names...]: a PKI whose server certificate names the site's IPv6
# and IPv4 addresses and vpn.test; client certificates laptop (and laptop2).
make_pki_v6() {
  local names=(--server-name "$SITE6" --server-name 10.200.0.2 --server-name vpn.test)
  for n in "$@"; do names+=(--server-name "$n"); done
  "$POSTERN_BIN" pki init "$WORK/pki" "${names[@]}" >"$WORK/pki.log" 2>&1 || fail "pki init"
  "$POSTERN_BIN" pki issue "$WORK/pki" laptop >>"$WORK/pki.log" 2>&1 || fail "pki issue laptop"
  "$POSTERN_BIN" pki issue "$WORK/pki" laptop2 >>"$WORK/pki.log" 2>&1 || fail "pki issue laptop2"
  chmod 755 "$WORK/pki"
}

# set_listen FILE ENDPOINT: the server config's `listen` (write_server_config writes the IPv4 one).
set_listen() { sed -i "s|^listen = .*|listen = \"$2\"|" "$1"; }

# hosts_entry NS LINE...: a private /etc/hosts for one namespace (`ip netns exec` bind-mounts
# /etc/netns/NS/hosts over /etc/hosts; lib.sh's cleanup removes /etc/netns/NS).
hosts_entry() {
  local ns=$1; shift
  mkdir -p "/etc/netns/$ns"
  printf '127.0.0.1 localhost\n::1 localhost\n' >"/etc/netns/$ns/hosts"
  printf '%s\n' "$@" >>"/etc/netns/$ns/hosts"
}

# capture_check FILE.json: `postern capture --json` output of the laptop's outer interface must
# hold tunnel traffic over IPv6 only: data frames (GRE-in-UDP, "sealed") and the control
# channel's TLS, both IPv6; the only other packets allowed are ICMPv6 (neighbour discovery).
# Anything else (IPv4, UDP that is not a data frame, other TCP) is a leak. MIN_DATA: at least
# that many data frames.
capture_check() {
  python3 - "$1" "${MIN_DATA:-100}" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
minimum = int(sys.argv[2])
sealed = control = icmp6 = 0
leaks = []
for p in doc["packets"]:
    if p.get("ip") == 6 and p["kind"] == "data":
        sealed += 1
    elif p.get("ip") == 6 and p["kind"] == "control":
        control += 1
    elif p.get("ip") == 6 and p["transport"] == "ip" and p.get("protocol") == 58:
        icmp6 += 1
    else:
        leaks.append(p)
print(f"capture: {len(doc['packets'])} packets: {sealed} sealed (GRE-in-UDP over IPv6), "
      f"{control} control (TLS over IPv6), {icmp6} ICMPv6, {len(leaks)} other")
if leaks:
    sys.exit(f"not sealed: {leaks[:5]}")
if sealed < minimum:
    sys.exit(f"expected at least {minimum} data frames over IPv6, saw {sealed}")
PY
}

# start_capture NS IFNAME FILE [capture options...]: `postern capture --json` of every packet
# (--port 0) in the background (CAPTURE_PID); stop_capture ends it with SIGTERM (the summary is
# still written).
start_capture() {
  ip netns exec "$1" "$POSTERN_BIN" capture -i "$2" --port 0 --json "${@:4}" >"$3" 2>"$3.err" &
  CAPTURE_PID=$!
  PIDS+=($CAPTURE_PID)
  sleep 1  # libpcap is attached well before the first packet we care about
}
stop_capture() {
  kill -TERM "$CAPTURE_PID" 2>/dev/null || true
  wait "$CAPTURE_PID" 2>/dev/null || true
}
