#!/usr/bin/env python3
"""TCP bulk transfer for the netns tests: `recv PORT [ADDRESS]` (default 0.0.0.0; an IPv6
address listens on IPv6) prints the SHA-256 of everything received;
`send HOST PORT MEGABYTES MARKER [PAUSE_MB RESUME_FILE]` sends random data with MARKER embedded
every 64 KiB and prints the SHA-256 of what it sent. The test compares the two digests. With
PAUSE_MB, the sender stops after that many megabytes with the connection open, creates
RESUME_FILE.paused and goes on once RESUME_FILE exists (at most 30 s), so a test can look at
the daemons in the middle of a transfer."""
import hashlib
import os
import socket
import sys
import time


def recv(port: int, address: str = "0.0.0.0") -> None:
    srv = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((address, port))
    srv.listen(1)
    print("listening", flush=True)
    conn, _ = srv.accept()
    digest, total = hashlib.sha256(), 0
    while True:
        chunk = conn.recv(1 << 16)
        if not chunk:
            break
        digest.update(chunk)
        total += len(chunk)
    print(total, digest.hexdigest(), flush=True)


def pause(resume_file: str) -> None:
    open(resume_file + ".paused", "w").close()
    deadline = time.monotonic() + 30
    while not os.path.exists(resume_file) and time.monotonic() < deadline:
        time.sleep(0.05)


def send(host: str, port: int, megabytes: int, marker: bytes, pause_mb: int = -1, resume_file: str = "") -> None:
    conn = socket.create_connection((host, port), timeout=60)
    digest, total, goal = hashlib.sha256(), 0, megabytes << 20
    block = 1 << 16
    while total < goal:
        if pause_mb >= 0 and total == pause_mb << 20:
            pause(resume_file)
        chunk = marker + os.urandom(block - len(marker))
        conn.sendall(chunk)
        digest.update(chunk)
        total += len(chunk)
    conn.shutdown(socket.SHUT_WR)
    conn.recv(1)
    conn.close()
    print(total, digest.hexdigest(), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "recv":
        recv(int(sys.argv[2]), *sys.argv[3:4])
    else:
        extra = (int(sys.argv[6]), sys.argv[7]) if len(sys.argv) > 7 else ()
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5].encode(), *extra)
