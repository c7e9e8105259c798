"""Test harness for the SMTP integration tests: a throwaway PKI and users file, an smtp-only
config on free 127.0.0.1 ports, and a `postern server -c FILE` process whose log is kept.

Environment: POSTERN_BIN (the built binary, set by CTest). POSTERN_SMTP_BIN overrides it (a
stand-in binary taking the same `server -c FILE` arguments). Exit code 77 means "skipped".
Stdlib only.
"""
import base64
import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time


def maildir_queue_id(maildir_name):
    """The queue id in a Maildir file name "<secs>.M<usec>Q<id>.<host>,S=<size>[:2,flags]"."""
    unique = maildir_name.split(".", 2)
    if len(unique) < 3 or "Q" not in unique[1]:
        return None
    return unique[1].split("Q", 1)[1]


SKIP = 77
PASSWORD = "correct horse 8"
USER = "alice@example.org"
DOMAIN = "example.org"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary():
    if os.environ.get("POSTERN_SMTP_BIN"):
        return os.environ["POSTERN_SMTP_BIN"]
    path = os.environ.get("POSTERN_BIN")
    if not path or not os.access(path, os.X_OK):
        print("SKIP: POSTERN_BIN is not set or not executable")
        sys.exit(SKIP)
    probe = subprocess.run([path, "server", "--help"], capture_output=True)
    if probe.returncode != 0:
        print("SKIP: %s has no `server` command yet" % path)
        sys.exit(SKIP)
    return path


def client_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def users_line(user, password):
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2 ** 10, r=8, p=1, dklen=32)
    return "%s:$scrypt$ln=10,r=8,p=1$%s$%s\n" % (
        user, base64.b64encode(salt).decode(), base64.b64encode(digest).decode())


class Server:
    """One postern server with three listeners: starttls, tls and auto."""

    def __init__(self, extra_smtp="", max_connections_per_ip=8):
        self.dir = tempfile.mkdtemp(prefix="postern-smtp-it-")
        self.ports = {"starttls": free_port(), "tls": free_port(), "auto": free_port()}
        self.log_path = os.path.join(self.dir, "server.log")
        self.proc = None
        self._make_pki()
        with open(os.path.join(self.dir, "users"), "w") as f:
            f.write(users_line(USER, PASSWORD))
        os.chmod(os.path.join(self.dir, "users"), 0o600)
        listen = ", ".join('"127.0.0.1:%d %s"' % (p, m) for m, p in self.ports.items())
        self.config = os.path.join(self.dir, "smtp.toml")
        with open(self.config, "w") as f:
            f.write("""[smtp]
listen = [%s]
hostname = "mail.test"
certificate = "cert.pem"
private_key = "key.pem"
spool = "spool"
maildir = "maildir"
domains = ["%s"]
users = "users"
greeting_delay = "400ms"
auth_failure_delay = "200ms"
command_timeout = "2s"
max_connections_per_ip = %d
trusted_networks = ["127.0.0.0/8"]
%s
[daemon]
user = "root"
group = "root"
status_socket = "%s"
""" % (listen, DOMAIN, max_connections_per_ip, extra_smtp, os.path.join(self.dir, "status.sock")))

    def _make_pki(self):
        if shutil.which("openssl") is None:
            print("SKIP: openssl not installed")
            sys.exit(SKIP)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", os.path.join(self.dir, "key.pem"),
             "-out", os.path.join(self.dir, "cert.pem"), "-days", "2", "-subj", "/CN=mail.test",
             "-addext", "subjectAltName=DNS:mail.test"],
            check=True, capture_output=True)

    def start(self):
        self.stop()  # never leak an earlier instance when a test failed half-way
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([binary(), "server", "-c", self.config], cwd=self.dir,
                                     stdout=self.log_file, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %s:\n%s" % (self.proc.returncode, self.log()))
            try:
                socket.create_connection(("127.0.0.1", self.ports["tls"]), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not listen within 10 s:\n" + self.log())

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log_file.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill9()
        if getattr(self, "log_file", None) and not self.log_file.closed:
            self.log_file.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, needle, timeout=5.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle in self.log():
                return True
            time.sleep(0.05)
        return False

    def mailbox(self, recipient):
        return os.path.join(self.dir, "maildir", recipient, "new")

    def delivered(self, recipient, queue_id, timeout=5.0):
        """The delivered bytes of queue_id for recipient (waits for the queue runner)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            path = self.delivered_path(recipient, queue_id)
            if path:
                with open(path, "rb") as f:
                    return f.read()
            time.sleep(0.02)
        raise AssertionError("%s was not delivered to %s; log:\n%s" % (queue_id, recipient,
                                                                       self.log()[-3000:]))

    def delivered_path(self, recipient, queue_id):
        """new/<secs>.M<usec>Q<queue_id>.<host>,S=<size> (maildir_delivery.hpp), or None."""
        box = self.mailbox(recipient)
        if not os.path.isdir(box):
            return None
        for name in os.listdir(box):
            if maildir_queue_id(name) == queue_id:
                return os.path.join(box, name)
        return None

    def files(self, recipient):
        box = self.mailbox(recipient)
        return sorted(os.listdir(box)) if os.path.isdir(box) else []

    def rss_kib(self, field="VmRSS"):
        """The server's resident set (or VmHWM, its peak) in KiB, from /proc/PID/status."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise AssertionError("no %s in /proc/%d/status" % (field, self.proc.pid))

    def queue_files(self):
        return sorted(os.listdir(os.path.join(self.dir, "spool", "queue")))


def strip_received(data):
    """Splits the first (folded) Received: header off; returns (header, rest)."""
    assert data.startswith(b"Received: "), data[:80]
    end = 0
    while True:
        eol = data.index(b"\r\n", end)
        end = eol + 2
        if data[end:end + 1] not in (b" ", b"\t"):
            return data[:end], data[end:]


def queue_id_of(reply_text):
    """The id from '250 2.0.0 Ok: queued as <id>'."""
    text = reply_text.decode() if isinstance(reply_text, bytes) else reply_text
    return text.rsplit(" ", 1)[-1].strip()


class Runner:
    """Runs named test functions, prints a line per test, exits non-zero on any failure."""

    def __init__(self):
        self.failed = []

    def run(self, name, fn, *args):
        started = time.time()
        try:
            fn(*args)
            print("PASS %-40s %.2fs" % (name, time.time() - started), flush=True)
        except Skip as e:
            print("SKIP %-40s %s" % (name, e), flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure and keep going
            import traceback
            traceback.print_exc()
            print("FAIL %-40s %s" % (name, e), flush=True)
            self.failed.append(name)

    def finish(self):
        if self.failed:
            print("FAILED: " + ", ".join(self.failed))
            sys.exit(1)
        print("all passed")


class Skip(Exception):
    pass
