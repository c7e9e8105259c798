#!/usr/bin/env python3
"""A RADIUS authentication server for the netns tests that holds its answers (hostile_smtp.sh).

  radius_hold.py --listen IP:PORT --secret-file F

Every Access-Request is logged ("request n=N id=I user=U", one line per distinct request: a
retransmission of the same packet is not counted again) and held unanswered until SIGUSR1;
then the held ones and every later one get an Access-Reject (RFC 2865 with a Message-Authenticator,
RFC 3579 3.2). So a password check that reached the server blocks its verification thread until
the test says so, and the number of checks that really ran is the number of "request" lines.
SIGTERM ends it, printing the totals.
"""
import argparse
import hashlib
import hmac
import select
import signal
import socket
import struct
import sys

ACCESS_REQUEST, ACCESS_REJECT = 1, 3
USER_NAME, MESSAGE_AUTHENTICATOR = 1, 80


def attributes(body):
    out, i = [], 0
    while i + 2 <= len(body):
        kind, length = body[i], body[i + 1]
        if length < 2:
            break
        out.append((kind, body[i + 2:i + length]))
        i += length
    return out


def access_reject(request, secret):
    ident, request_authenticator = request[1], request[4:20]
    attrs = struct.pack(">BB", MESSAGE_AUTHENTICATOR, 18) + bytes(16)
    length = 20 + len(attrs)
    packet = bytearray(struct.pack(">BBH", ACCESS_REJECT, ident, length) + request_authenticator + attrs)
    # RFC 3579 3.2: HMAC-MD5 over the answer with the Request Authenticator and a zeroed value.
    packet[22:38] = hmac.new(secret, bytes(packet), hashlib.md5).digest()
    # RFC 2865 3: Response Authenticator = MD5(code id length RequestAuth attributes secret).
    packet[4:20] = hashlib.md5(bytes(packet) + secret).digest()
    return bytes(packet)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", required=True)
    p.add_argument("--secret-file", required=True)
    args = p.parse_args()
    host, port = args.listen.rsplit(":", 1)
    secret = open(args.secret_file, "rb").read().rstrip(b"\n")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, int(port)))
    state = {"release": False, "stop": False}
    signal.signal(signal.SIGUSR1, lambda *_: state.update(release=True))
    signal.signal(signal.SIGTERM, lambda *_: state.update(stop=True))
    seen, held, answered = set(), [], 0
    print(f"radius-hold listening on {args.listen}", flush=True)
    while not state["stop"]:
        if state["release"] and held:
            for packet, peer in held:
                s.sendto(access_reject(packet, secret), peer)
                answered += 1
            print(f"released {len(held)} held requests", flush=True)
            held.clear()
        try:
            ready, _, _ = select.select([s], [], [], 0.1)
        except InterruptedError:
            continue
        if not ready:
            continue
        packet, peer = s.recvfrom(4096)
        if len(packet) < 20 or packet[0] != ACCESS_REQUEST:
            continue
        key = (peer, packet[1], packet[4:20])
        if key not in seen:
            seen.add(key)
            user = dict(attributes(packet[20:])).get(USER_NAME, b"").decode(errors="replace")
            print(f"request n={len(seen)} id={packet[1]} user={user}", flush=True)
        if state["release"]:
            s.sendto(access_reject(packet, secret), peer)
            answered += 1
        else:
            held.append((packet, peer))
    print(f"radius-hold: {len(seen)} requests, {answered} answers", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
