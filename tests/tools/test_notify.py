#!/usr/bin/env python3
"""Integration test of the systemd notify protocol (docs/operations.md), without systemd.

The test plays the service manager: it binds a unix datagram socket, starts an smtp-only
`postern server` with NOTIFY_SOCKET pointing at it and WATCHDOG_USEC=1 s, and reads what the
daemon says. Checks:
  * READY=1 arrives once, and when it does the SMTP listener greets and the status socket
    answers (nothing is announced before it is accepting); it carries a STATUS= line;
  * WATCHDOG=1 keeps coming (every 0.5 s), and stops while the process is SIGSTOPped (the pings
    come from the event loop), then resumes after SIGCONT;
  * SIGHUP gives RELOADING=1 with MONOTONIC_USEC=, then READY=1;
  * SIGTERM gives STOPPING=1 and a clean exit;
  * with JOURNAL_STREAM naming the daemon's stderr, log lines carry <N> syslog priorities.
Needs POSTERN_BIN (set by ctest) and openssl; runs as any user, no namespaces, no root.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("POSTERN_BIN", "postern")
SKIP = 77
failures = []


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
        if detail:
            print("     " + str(detail).replace("\n", "\n     "))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Manager:
    """The service manager's end of NOTIFY_SOCKET: every datagram, parsed, with its arrival time."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o777)  # the daemon may have dropped to another user when root runs this
        self.messages = []

    def receive(self, timeout):
        """The next message as a dict (KEY -> value), or None after `timeout` seconds."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return None
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
        self.messages.append(fields)
        return fields

    def wait_for(self, key, timeout, skip_watchdog=True):
        """Reads until a message with `key`; returns it and the ones before (watchdog pings aside)."""
        deadline = time.time() + timeout
        before = []
        while time.time() < deadline:
            m = self.receive(max(0.01, deadline - time.time()))
            if m is None:
                break
            if key in m:
                return m, before
            if not (skip_watchdog and list(m) == ["WATCHDOG"]):
                before.append(m)
        return None, before

    def count(self, key, seconds):
        n = 0
        deadline = time.time() + seconds
        while time.time() < deadline:
            m = self.receive(max(0.01, deadline - time.time()))
            if m and key in m:
                n += 1
        return n


def write_config(d, port):
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=mail.test"],
                   check=True, capture_output=True)
    path = os.path.join(d, "notify.toml")
    with open(path, "w") as f:
        f.write("""[smtp]
listen = ["127.0.0.1:%d starttls"]
hostname = "mail.test"
certificate = "cert.pem"
private_key = "key.pem"
spool = "spool"
maildir = "maildir"
domains = ["example.org"]
greeting_delay = "0s"
trusted_networks = ["127.0.0.0/8"]

[daemon]
user = "root"
group = "root"
status_socket = "%s"
""" % (port, os.path.join(d, "status.sock")))
    return path


def smtp_greets(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            return s.recv(512).decode(errors="replace")
    except OSError as e:
        return "error: %s" % e


def status_answers(path):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(path)
            s.sendall(b"json\n")
            return s.recv(65536).decode(errors="replace")
    except OSError as e:
        return "error: %s" % e


def main():
    if not os.access(BIN, os.X_OK):
        print("SKIP: POSTERN_BIN is not set or not executable")
        return SKIP
    d = tempfile.mkdtemp(prefix="postern-notify-")
    os.chmod(d, 0o755)
    port = free_port()
    config = write_config(d, port)
    manager = Manager(os.path.join(d, "notify.sock"))
    log_path = os.path.join(d, "server.log")
    log = open(log_path, "wb")
    st = os.fstat(log.fileno())
    env = dict(os.environ, NOTIFY_SOCKET=os.path.join(d, "notify.sock"), WATCHDOG_USEC="1000000",
               JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([BIN, "server", "-c", config], cwd=d, env=env, stdout=log, stderr=log)
    try:
        ready, before = manager.wait_for("READY", 15)
        check(ready is not None, "READY=1 arrives", open(log_path).read())
        if ready is None:
            return 1
        # Probed right after READY: both listeners must already accept.
        greeting = smtp_greets(port)
        check(greeting.startswith("220 "), "the SMTP listener greets when READY arrives", greeting)
        report = status_answers(os.path.join(d, "status.sock"))
        check('"role":"server"' in report.replace(" ", ""), "the status socket answers when READY arrives",
              report)
        check(not any("READY" in m for m in before), "READY=1 is sent once", before)
        check("smtp 0 queued" in ready.get("STATUS", ""), "READY carries a STATUS= line", ready)

        n = manager.count("WATCHDOG", 2.6)
        check(n >= 4, "WATCHDOG=1 every WATCHDOG_USEC/2 (%d in 2.6 s)" % n)

        proc.send_signal(signal.SIGHUP)
        reloading, _ = manager.wait_for("RELOADING", 5)
        check(reloading is not None and reloading.get("MONOTONIC_USEC", "").isdigit(),
              "SIGHUP: RELOADING=1 with MONOTONIC_USEC", reloading)
        again, _ = manager.wait_for("READY", 5)
        check(again is not None, "SIGHUP: READY=1 after the reload")

        proc.send_signal(signal.SIGSTOP)
        time.sleep(0.2)
        while manager.receive(0.05) is not None:  # a ping already in flight
            pass
        n = manager.count("WATCHDOG", 2.5)
        check(n == 0, "no WATCHDOG=1 while the process is stopped (%d in 2.5 s)" % n)
        proc.send_signal(signal.SIGCONT)
        n = manager.count("WATCHDOG", 2.0)
        check(n >= 2, "WATCHDOG=1 resumes after SIGCONT (%d in 2 s)" % n)

        proc.send_signal(signal.SIGTERM)
        stopping, _ = manager.wait_for("STOPPING", 5)
        check(stopping is not None, "SIGTERM: STOPPING=1")
        rc = proc.wait(timeout=10)
        check(rc == 0, "clean exit after SIGTERM (rc=%s)" % rc)

        text = open(log_path).read()
        lines = [l for l in text.splitlines() if l]
        check(lines and all(l[:3] in ("<3>", "<4>", "<6>", "<7>") for l in lines),
              "journald mode: every log line starts with its syslog priority", text)
        check(any(l.startswith("<6>info daemon ready") for l in lines), "an info line is <6>", text)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait()
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
