#!/usr/bin/env python3
"""Integration test of `postern capture --read`: writes its own pcap (Ethernet/IPv4/UDP frames
carrying data-channel GRE headers, TCP segments carrying TLS records split across segments) and
checks the decoded summary (sessions, gaps, reorders, duplicates, TLS record counts), the JSON
output, --count, and --leak-check (exit 0 on clean data, exit 3 naming string and packet).
Needs POSTERN_BIN (set by ctest).
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

BIN = os.environ.get("POSTERN_BIN", "postern")
failures = []
CLIENT, SERVER = (10, 0, 0, 2), (192, 0, 2, 1)
MARKER = b"LEAKY-MARKER-7f3a"


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
        if detail:
            print("     " + str(detail).replace("\n", "\n     "))


def ipv4(src, dst, proto, l4):
    total = 20 + len(l4)
    hdr = struct.pack("!BBHHHBBH4B4B", 0x45, 0, total, 1, 0x4000, 64, proto, 0, *src, *dst)
    return hdr + l4


def ether(ip):
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip


def udp(src, sport, dst, dport, payload):
    return ether(ipv4(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload))


def tcp(src, sport, dst, dport, seq, payload, flags=0x18):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 0x50, flags, 65535, 0, 0)
    return ether(ipv4(src, dst, 6, hdr + payload))


def gre(session, epoch, seq, sealed_len=48):
    # RFC 2890 header as the data channel sends it: K+S flags, protocol 0x880B (PPP),
    # key = session << 8 | epoch, sequence; then ciphertext + 16-byte tag (random-looking).
    return struct.pack("!BBHII", 0x30, 0x00, 0x880B, (session << 8) | epoch, seq) + \
        bytes((i * 37 + seq) & 0xFF for i in range(sealed_len))


def tls_record(ctype, body):
    return struct.pack("!BHH", ctype, 0x0303, len(body)) + body


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", 1795034467 + i, 1000 * i, len(frame), len(frame)))
            f.write(frame)


def build_frames():
    frames = []
    # Session 0x000123 epoch 1, client -> server: 3 never arrives, 4 late, 6 twice.
    for seq in [0, 1, 2, 5, 6, 6, 4]:
        frames.append(udp(CLIENT, 40000, SERVER, 1723, gre(0x123, 1, seq)))
    # Session 0x000456 epoch 0, server -> client: clean.
    for seq in range(5):
        frames.append(udp(SERVER, 1723, CLIENT, 40000, gre(0x456, 0, seq)))
    # Control channel: SYN, a ClientHello split across two segments, then the server's flight.
    hello = tls_record(22, b"\x01" + b"\x00" * 200)
    frames.append(tcp(CLIENT, 50000, SERVER, 1723, 999, b"", flags=0x02))
    frames.append(tcp(CLIENT, 50000, SERVER, 1723, 1000, hello[:3]))
    frames.append(tcp(CLIENT, 50000, SERVER, 1723, 1003, hello[3:]))
    flight = tls_record(22, b"\x02" + b"\x00" * 90) + tls_record(20, b"\x01") + \
        tls_record(23, b"\x99" * 300) + tls_record(23, b"\x98" * 50)
    frames.append(tcp(SERVER, 1723, CLIENT, 50000, 7000, flight[:150]))
    frames.append(tcp(SERVER, 1723, CLIENT, 50000, 7150, flight[150:]))
    return frames


def run(*args):
    p = subprocess.run([BIN, "capture", *args], capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_live_loopback():
    """Live libpcap path (root only): a marker sent over loopback UDP is caught."""
    if os.geteuid() != 0:
        print("skip live capture on lo (not root)")
        return
    import socket
    import time
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    proc = subprocess.Popen([BIN, "capture", "--interface", "lo", "--port", str(port), "--duration", "3",
                             "--leak-check", MARKER.decode()],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let pcap_activate and the filter settle
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.sendto(gre(0x99, 2, 7), ("127.0.0.1", port))
    sender.sendto(b"plain " + MARKER, ("127.0.0.1", port))
    out, err = proc.communicate(timeout=30)
    out, err = out.decode(), err.decode()
    check(proc.returncode == 3 and "LEAK" in err, "live capture on lo catches the marker (exit 3)",
          "rc=%s\n%s%s" % (proc.returncode, out, err))
    check("session=0x000099 epoch=2 seq=7" in out, "live capture decodes a data frame", out)
    sock.close()
    sender.close()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        clean = os.path.join(tmp, "clean.pcap")
        frames = build_frames()
        write_pcap(clean, frames)

        rc, out, err = run("--read", clean)
        check(rc == 0, "capture --read exits 0", err)
        check("session 0x000123 epoch 1 10.0.0.2:40000 -> 192.0.2.1:1723: packets 7" in out,
              "client session summarised", out)
        check("gaps 1 reorders 1 duplicates 1" in out, "gap, reorder and duplicate counted", out)
        check("session 0x000456 epoch 0" in out and "gaps 0 reorders 0 duplicates 0" in out,
              "clean session has no gaps", out)
        check("seq=5 len=48 [gap]" in out, "per-packet line shows the gap", out)
        check("ClientHello" in out and "ServerHello" in out, "ClientHello/ServerHello noted", out)

        rc, out, err = run("--read", clean, "--json", "--summary-only")
        try:
            doc = json.loads(out)
        except ValueError as e:
            doc = None
            check(False, "--json output parses", "%s\n%s" % (e, out))
        if doc is not None:
            s = doc["summary"]
            check(doc["packets"] == [], "--summary-only leaves out the packets")
            check(s["packets"] == len(frames) and s["data"] == 12 and s["control"] == 5,
                  "JSON counts packets by kind", s)
            sessions = {x["session"]: x for x in s["sessions"]}
            check(sessions.get(0x123, {}).get("gaps") == 1 and sessions[0x123]["duplicates"] == 1,
                  "JSON session accounting", s["sessions"])
            flows = {x["src"]: x for x in s["flows"]}
            c, sv = flows.get("10.0.0.2:50000", {}), flows.get("192.0.2.1:1723", {})
            check(c.get("client_hello") == 1 and c.get("records") == {"handshake": 1},
                  "ClientHello reassembled across segments", c)
            check(sv.get("server_hello") == 1 and sv.get("records") ==
                  {"change_cipher_spec": 1, "handshake": 1, "application_data": 2},
                  "server flight records counted", sv)

        rc, out, _ = run("--read", clean, "--json")
        check(rc == 0 and len(json.loads(out)["packets"]) == len(frames), "--json lists every packet")

        rc, out, _ = run("--read", clean, "--count", "3", "--summary-only")
        check(rc == 0 and "summary: 3 packets" in out, "--count stops early", out)

        rc, out, err = run("--read", clean, "--leak-check", MARKER.decode(), "password123")
        check(rc == 0 and ("no leak: %d packets" % len(frames)) in out, "clean capture: no leak", out + err)

        leaky = os.path.join(tmp, "leaky.pcap")
        # The marker in clear inside a datagram on another port (as a plaintext leak would be).
        bad = frames[:4] + [udp(CLIENT, 5353, SERVER, 53, b"\x00\x01query " + MARKER + b" end")] + frames[4:]
        write_pcap(leaky, bad)
        rc, out, err = run("--read", leaky, "--leak-check", MARKER.decode(), "--summary-only")
        check(rc == 3, "a leak exits 3", "rc=%d" % rc)
        check(('LEAK: "%s" found in packet 5' % MARKER.decode()) in err,
              "the leak names the string and the packet number", err)

        rc, _, err = run("--read", os.path.join(tmp, "missing.pcap"))
        check(rc != 0, "a missing file is an error", err)
        test_live_loopback()
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
