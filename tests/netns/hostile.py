#!/usr/bin/env python3
"""A bounded hostile peer for the netns tests (tests/netns/hostile_control.sh, hostile_smtp.sh).
Only ever aimed at the test's own namespaces: every mode takes an explicit target and a hard
count and time cap.

  hostile.py hello-flood HOST:PORT --count N --user U [--ca FILE] [--source ADDR | --sources A.B.C.D-N]
      N concurrent TLS 1.3 control connections from one source (or spread over several), each
      sending a HELLO with user U
      and a wrong password (docs/control-channel.md: type, u16 length, TLV attributes), then
      waiting for AUTH_FAIL or the close. Prints how many got AUTH_FAIL.

  hostile.py stop-reading HOST:PORT --user U --password-file F --ca FILE [--source ADDR]
             [--megabytes M] [--seconds S]
      One authenticated control session (HELLO with a real password, LCP and IPCP negotiated as
      the server asks, up to DATA_CHANNEL) that then never reads again: a receive buffer of a few
      KiB, and ECHO_REQUESTs sent as fast as the server takes them, up to M MiB of requests
      (each answered by an ECHO_REPLY of the same size that nobody reads) or S seconds. Prints
      how many MiB of requests went out and whether the server closed the connection.

  hostile.py smtp-auth-flood HOST:PORT --count N --user U --sources A.B.C.D-N [--ca FILE]
      N concurrent SMTP sessions spread over the source addresses, each taken through EHLO,
      STARTTLS and EHLO again; when all are ready (or after 30 s, those that are), every one
      sends AUTH PLAIN for user U with a wrong password at once and waits for the reply
      (up to 60 s). Prints "smtp-auth-flood: all sent" when the AUTHs are out, then how many
      got each reply (code and the first words of its text).

The floods that need only raw sockets (connect-flood, udp-flood) are postern_flood
(tests/netns/flood.cpp): in Python they took a large share of the CPU the tunnel under test
needs.
"""
import argparse
import ipaddress
import os
import resource
import socket
import ssl
import struct
import sys
import threading
import time

MAX_COUNT = 200000
MAX_SECONDS = 60


def endpoint(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def source_range(text):
    first, _, last = text.partition("-")
    base = ipaddress.IPv4Address(first)
    count = int(last) - int(str(base).split(".")[-1]) + 1 if last else 1
    return [str(base + i) for i in range(count)]


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def frame(kind, attrs):
    body = b"".join(struct.pack(">BH", a, len(v)) + v for a, v in attrs)
    return struct.pack(">BH", kind, len(body)) + body


def hello_flood(args):
    count = min(args.count, MAX_COUNT)
    raise_nofile(count + 64)
    target = endpoint(args.target)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if args.ca:
        ctx.load_verify_locations(args.ca)
        ctx.check_hostname = False
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    sources = source_range(args.sources) if args.sources else None
    results = {"auth_fail": 0, "closed": 0, "error": 0}
    lock = threading.Lock()

    def one(i):
        outcome = "error"
        try:
            source = sources[i % len(sources)] if sources else args.source
            raw = socket.create_connection(target, timeout=MAX_SECONDS,
                                           source_address=(source, 0) if source else None)
            tls = ctx.wrap_socket(raw, server_hostname=target[0])
            hello = frame(1, [(1, struct.pack(">H", 1)), (2, os.urandom(3)), (3, args.user.encode()),
                              (4, b"wrong password %d" % i), (5, b"\x01")])
            tls.sendall(hello)
            header = tls.recv(3)
            outcome = "auth_fail" if header[:1] == b"\x03" else "closed"
            tls.close()
        except (OSError, ssl.SSLError):
            outcome = "closed"
        with lock:
            results[outcome] += 1

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + MAX_SECONDS
    for t in threads:
        t.join(timeout=max(0.1, deadline - time.monotonic()))
    print(f"hello-flood: {count} HELLOs, {results['auth_fail']} AUTH_FAIL, {results['closed']} closed, "
          f"{results['error']} errors")


def read_frame(tls):
    header = b""
    while len(header) < 3:
        chunk = tls.recv(3 - len(header))
        if not chunk:
            raise ConnectionError("the server closed the connection during the negotiation")
        header += chunk
    kind, length = struct.unpack(">BH", header)
    body = b""
    while len(body) < length:
        chunk = tls.recv(length - len(body))
        if not chunk:
            raise ConnectionError("the server closed the connection during the negotiation")
        body += chunk
    return kind, body


def attributes(body):
    out, i = [], 0
    while i + 3 <= len(body):
        a, n = struct.unpack(">BH", body[i:i + 3])
        out.append((a, body[i + 3:i + 3 + n]))
        i += 3 + n
    return out


def negotiate(tls, user, password):
    """The client side of docs/control-channel.md up to DATA_CHANNEL, accepting every NAK."""
    tls.sendall(frame(1, [(1, struct.pack(">H", 1)), (2, os.urandom(3)), (3, user), (4, password), (5, b"\x01")]))
    kind, body = read_frame(tls)
    if kind != 2:
        raise ConnectionError(f"no AUTH_OK (message type {kind}: {body!r})")
    lcp = {16: struct.pack(">H", 1400), 17: struct.pack(">H", 10), 18: struct.pack(">H", 60)}
    ipcp = [(32, bytes(4))]
    tls.sendall(frame(4, list(lcp.items())))
    for _ in range(10):
        kind, body = read_frame(tls)
        if kind == 6:  # LCP NAK: take the server's values
            lcp.update(dict(attributes(body)))
            tls.sendall(frame(4, list(lcp.items())))
        elif kind == 5:  # LCP ACK
            tls.sendall(frame(8, ipcp))
        elif kind == 10:  # IPCP NAK: the full set to request
            tls.sendall(frame(8, attributes(body)))
        elif kind == 9:  # IPCP ACK
            continue
        elif kind == 12:  # DATA_CHANNEL: established
            return
        else:
            raise ConnectionError(f"unexpected message type {kind} during the negotiation: {body!r}")
    raise ConnectionError("the negotiation did not end")


def stop_reading(args):
    seconds = min(args.seconds, MAX_SECONDS)
    limit = min(args.megabytes, 1024) << 20
    target = endpoint(args.target)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(args.ca)
    ctx.check_hostname = False
    password = open(args.password_file, "rb").read().rstrip(b"\n")
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small receive window before connecting: the server's replies back up at once.
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    if args.source:
        raw.bind((args.source, 0))
    raw.settimeout(MAX_SECONDS)
    raw.connect(target)
    tls = ctx.wrap_socket(raw, server_hostname=target[0])
    negotiate(tls, args.user.encode(), password)
    print("stop-reading: established", flush=True)
    # 960 requests of 17 octets: one TLS record per send(), which OpenSSL writes whole or not at
    # all, so a send() that times out is retried with the same bytes and frames are never cut.
    batch = b"".join(frame(13, [(64, struct.pack(">I", i)), (65, b"\xde\xad\xbe\xef")]) for i in range(960))
    sent, closed, reason = 0, False, "time or byte cap reached"
    tls.settimeout(0.5)
    start = time.monotonic()
    while sent < limit and time.monotonic() - start < seconds and not closed:
        try:
            tls.send(batch)
            sent += len(batch)
        except socket.timeout:
            continue  # the server is not taking requests right now; it may yet close
        except (OSError, ssl.SSLError) as e:
            closed, reason = True, f"{type(e).__name__}: {e}"
    elapsed = time.monotonic() - start
    tls.close() if not closed else raw.close()
    print(f"stop-reading: {sent / 1048576:.1f} MiB of echo requests in {elapsed:.1f} s, "
          f"{'closed by the server' if closed else 'not closed'} ({reason})", flush=True)
    return 0 if closed else 3


def smtp_auth_flood(args):
    import base64
    import collections
    import smtplib
    count = min(args.count, 2000)
    raise_nofile(count + 64)
    host, port = endpoint(args.target)
    ctx = ssl.create_default_context(cafile=args.ca) if args.ca else ssl._create_unverified_context()
    ctx.check_hostname = False
    sources = source_range(args.sources)
    ready, go = threading.Semaphore(0), threading.Event()
    replies, lock = collections.Counter(), threading.Lock()

    def one(i):
        s = None
        try:
            s = smtplib.SMTP(host, port, timeout=MAX_SECONDS, source_address=(sources[i % len(sources)], 0))
            s.ehlo()
            s.starttls(context=ctx)
            s.ehlo()
        except (OSError, smtplib.SMTPException, ssl.SSLError) as e:
            outcome, s = f"error before AUTH ({type(e).__name__})", None
        ready.release()
        if s is not None:
            go.wait(MAX_SECONDS)
            token = base64.b64encode(b"\0" + args.user.encode() + b"\0wrong password %d" % i).decode()
            try:
                code, text = s.docmd("AUTH", "PLAIN " + token)
                outcome = f"{code} {' '.join(text.decode(errors='replace').split()[:4])}"
                s.close()
            except (OSError, smtplib.SMTPException, ssl.SSLError) as e:
                outcome = f"no reply ({type(e).__name__})"
        with lock:
            replies[outcome] += 1

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    for _ in range(count):
        if not ready.acquire(timeout=max(0.1, deadline - time.monotonic())):
            break
    go.set()
    time.sleep(0.5)  # the AUTH lines leave within a few milliseconds of the event
    print("smtp-auth-flood: all sent", flush=True)
    deadline = time.monotonic() + MAX_SECONDS
    for t in threads:
        t.join(timeout=max(0.1, deadline - time.monotonic()))
    with lock:
        summary = ", ".join(f"{n} x {what}" for what, n in sorted(replies.items()))
    print(f"smtp-auth-flood: {count} sessions: {summary}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    h = sub.add_parser("hello-flood")
    h.add_argument("target")
    h.add_argument("--count", type=int, required=True)
    h.add_argument("--user", required=True)
    h.add_argument("--ca")
    h.add_argument("--source", help="bind to this local address")
    h.add_argument("--sources", help="spread over these local addresses (A.B.C.D-N)")
    r = sub.add_parser("stop-reading")
    r.add_argument("target")
    r.add_argument("--user", required=True)
    r.add_argument("--password-file", required=True)
    r.add_argument("--ca", required=True)
    r.add_argument("--source", help="bind to this local address")
    r.add_argument("--megabytes", type=int, default=256, help="echo requests in all (MiB)")
    r.add_argument("--seconds", type=float, default=30)
    a = sub.add_parser("smtp-auth-flood")
    a.add_argument("target")
    a.add_argument("--count", type=int, required=True)
    a.add_argument("--user", required=True)
    a.add_argument("--sources", required=True)
    a.add_argument("--ca")
    args = p.parse_args()
    return {"hello-flood": hello_flood, "stop-reading": stop_reading,
            "smtp-auth-flood": smtp_auth_flood}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
